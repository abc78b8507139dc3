"""Analytics' part of a person's data export: their events and their feedback."""

from __future__ import annotations

import json
from typing import Any

from analytics.models import Feedback, NpsResponse
from analytics.services import export_user_events
from lms.models import User


def personal_data(user: User) -> list[tuple[str, bytes]]:
    events = list(export_user_events(user.pk))
    feedback: dict[str, Any] = {
        "feedback": [
            {
                "created_at": f.created_at.isoformat(),
                "kind": f.kind,
                "rating": f.rating,
                "message": f.message,
                "page_url": f.page_url,
                "status": f.status,
                "reply": f.reply,
            }
            for f in Feedback.objects.filter(user=user).order_by("created_at", "id")
        ],
        "nps": [
            {"created_at": n.created_at.isoformat(), "score": n.score, "comment": n.comment}
            for n in NpsResponse.objects.filter(user=user).order_by("created_at", "id")
        ],
    }
    return [
        ("events.json", json.dumps(events, indent=2, default=str).encode()),
        ("feedback.json", json.dumps(feedback, indent=2, default=str).encode()),
    ]
