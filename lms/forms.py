from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from lms.models import User, timezone_choices


def timezone_field(**kwargs: object) -> forms.ChoiceField:
    """A time zone typed with suggestions (timezone.js fills them from the
    browser's own list and preselects the browser's zone), checked against
    zoneinfo here: no 600-option list in every page."""
    return forms.ChoiceField(
        choices=timezone_choices,
        label="Time zone",
        help_text="Type to search, e.g. Berlin or New York.",
        error_messages={
            "invalid_choice": "Unknown time zone “%(value)s”: choose one from the list, e.g. Europe/Berlin."
        },
        widget=forms.TextInput(
            attrs={"list": "timezone-list", "autocomplete": "off", "spellcheck": "false", "data-timezone": ""}
        ),
        **kwargs,
    )


class SignUpForm(UserCreationForm):
    role = forms.ChoiceField(
        choices=[(User.Role.STUDENT, "I'm a student"), (User.Role.TEACHER, "I'm a teacher")],
        widget=forms.RadioSelect,
        initial=User.Role.STUDENT,
    )
    email = forms.EmailField(required=True, help_text="Used only to reset your password.")
    timezone = timezone_field(initial="UTC")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "first_name", "last_name", "role", "timezone")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class ProfileForm(forms.ModelForm):
    timezone = timezone_field()

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "timezone")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another account uses this email.")
        return email
