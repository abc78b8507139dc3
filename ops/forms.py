from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from lms.models import User
from ops.models import Article, HealthProbe, Incident, Severity

COMPONENT_CHOICES = HealthProbe.Component.choices
WINDOW_CHOICES = [(15, "15 minutes"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours")]


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form: per field where it names one, else the whole form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# The longest incident description, update or post-mortem section (the API uses the same).
TEXT_MAX = 20_000


class IncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=3)
    components = forms.MultipleChoiceField(
        choices=COMPONENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=TEXT_MAX)
    public_message = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Shown on the public status page. Leave empty for “Investigating: [the title]”.",
    )
    commander = forms.ModelChoiceField(queryset=User.objects.filter(is_staff=True, is_active=True), required=False)


class IncidentUpdateForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=TEXT_MAX)
    status = forms.ChoiceField(
        choices=[("", "— keep —")] + [c for c in Incident.Status.choices if c[0] not in ("triggered", "resolved")],
        required=False,
    )
    severity = forms.TypedChoiceField(
        choices=[("", "— keep —"), *Severity.choices], coerce=int, required=False, empty_value=None
    )
    public = forms.BooleanField(required=False, help_text="Also show this update on the public status page.")


class ResolveForm(forms.Form):
    message = forms.CharField(required=False, max_length=2000, label="Closing note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Shares the incident page with the update form's "message": its own ids
        # keep each label pointing at its own box.
        kwargs.setdefault("auto_id", "id_resolve_%s")
        super().__init__(*args, **kwargs)


class PostmortemForm(forms.Form):
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=TEXT_MAX)
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    root_cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=TEXT_MAX)
    action_items = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=TEXT_MAX, help_text="One per line."
    )


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), ("open", "Open"), *Incident.Status.choices], required=False)
    severity = forms.TypedChoiceField(
        choices=[("", "Any severity"), *Severity.choices], coerce=int, required=False, empty_value=None
    )
    component = forms.ChoiceField(choices=[("", "Any component"), *COMPONENT_CHOICES], required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["style"] = "width:auto"  # one row of filters, not three full-width boxes


class MaintenanceModeForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    message = forms.CharField(required=False, max_length=500)


class _LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class MaintenanceWindowForm(forms.Form):
    """Parses the input; ops.services.maintenance_window_* decides whether it makes sense."""

    title = forms.CharField(max_length=200)
    starts_at = forms.DateTimeField(label="Starts (UTC)", widget=_LocalDateTimeInput())
    ends_at = forms.DateTimeField(label="Ends (UTC)", widget=_LocalDateTimeInput())
    components = forms.MultipleChoiceField(
        choices=COMPONENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Shown as “under maintenance” on the status page while the window is on.",
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=TEXT_MAX,
        help_text="What users should expect; shown on the public status page.",
    )
    maintenance_mode = forms.BooleanField(
        required=False,
        label="Turn maintenance mode on while it runs",
        help_text="At the start users see the maintenance page (staff still work); at the end it turns off again.",
    )


class SubscribeForm(forms.Form):
    email = forms.EmailField(help_text="We send a confirmation link first: nothing else until you follow it.")
    kind = forms.ChoiceField(
        choices=[("email", "Email me"), ("webhook", "POST JSON to a webhook")],
        initial="email",
        widget=forms.RadioSelect,
        label="How",
    )
    url = forms.URLField(required=False, max_length=500, label="Webhook URL", assume_scheme="https")
    components = forms.MultipleChoiceField(
        choices=COMPONENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every component.",
    )


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(max_length=300, required=False)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 18}), help_text="Markdown.", max_length=200_000)
    category = forms.CharField(max_length=80, required=False, help_text="e.g. Runbooks, How-to, Known issues.")
    tags = forms.CharField(max_length=400, required=False, help_text="Separated by spaces or commas.")
    visibility = forms.ChoiceField(choices=Article.Visibility.choices, initial=Article.Visibility.STAFF)
    status = forms.ChoiceField(choices=Article.Status.choices, initial=Article.Status.PUBLISHED)
    review_every_days = forms.IntegerField(min_value=1, max_value=3650, initial=90, label="Review every (days)")
