from __future__ import annotations

from typing import Any

from django import forms

from lms.models import User
from ops.models import HealthProbe, Incident, Severity

COMPONENT_CHOICES = HealthProbe.Component.choices
WINDOW_CHOICES = [(15, "15 minutes"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours")]


class IncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=3)
    components = forms.MultipleChoiceField(
        choices=COMPONENT_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    public_message = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Shown on the public status page. Leave empty for “Investigating: [the title]”.",
    )
    commander = forms.ModelChoiceField(queryset=User.objects.filter(is_staff=True, is_active=True), required=False)


class IncidentUpdateForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
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
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    root_cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    action_items = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="One per line.")


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
        help_text="What users should expect; shown on the public status page.",
    )
