from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.contenttypes.models import ContentType

from lms import audit
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
        # Registered or not, the address is accepted here: the page must not
        # say which (lms.signup emails the owner instead).
        return self.cleaned_data["email"].strip().lower()


class ProfileForm(forms.ModelForm):
    timezone = timezone_field()

    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "timezone", "analytics_opt_out")
        labels = {"analytics_opt_out": "Opt out of product analytics"}

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email and User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another account uses this email.")
        return email


class AuditFilterForm(forms.Form):
    """The audit page's filters; every field optional."""

    actor = forms.CharField(required=False, max_length=150, help_text='A username, or "system".')
    kind = forms.ModelChoiceField(queryset=ContentType.objects.none(), required=False, label="Kind")
    action = forms.ChoiceField(required=False, choices=[("", "any"), *[(a, a) for a in audit.ACTIONS]])
    object_pk = forms.CharField(required=False, max_length=255, label="Object id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        kinds = audit.tracked_content_types()
        self.fields["kind"].queryset = ContentType.objects.filter(pk__in=[ct.pk for ct in kinds])
        self.fields["kind"].label_from_instance = lambda ct: (
            "recorded action" if ct.model == "logentry" else f"{ct.app_label}.{ct.model}"
        )


class AccountDeleteForm(forms.Form):
    """Deleting an account asks for the password: a borrowed, unlocked laptop
    must not be enough."""

    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    confirm = forms.BooleanField(label="I understand my account and my data will be deleted.")

    def __init__(self, user: User, *args: object, **kwargs: object) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password
