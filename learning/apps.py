from __future__ import annotations

from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"

    def ready(self) -> None:
        from lms.signals import user_deleting

        user_deleting.connect(_hand_over_classes, dispatch_uid="learning.hand_over_classes")


def _hand_over_classes(sender: object, users: list, **kwargs: object) -> None:
    from learning.services import classrooms_hand_over

    classrooms_hand_over(teachers=users)
