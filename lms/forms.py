from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from lms.models import User, timezone_choices


class SignUpForm(UserCreationForm):
    role = forms.ChoiceField(
        choices=[(User.Role.STUDENT, "I'm a student"), (User.Role.TEACHER, "I'm a teacher")],
        widget=forms.RadioSelect,
        initial=User.Role.STUDENT,
    )
    email = forms.EmailField(required=True, help_text="Used only to reset your password.")
    timezone = forms.ChoiceField(choices=timezone_choices, initial="UTC", label="Time zone")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "first_name", "last_name", "role", "timezone")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices, label="Time zone")

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "timezone")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another account uses this email.")
        return email
