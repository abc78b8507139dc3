from __future__ import annotations

from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"

    def ready(self) -> None:
        from learning import progress, visibility
        from lms.signals import personal_data_requested, user_deleting

        visibility.connect()
        progress.connect()
        user_deleting.connect(_hand_over_classes, dispatch_uid="learning.hand_over_classes")
        personal_data_requested.connect(_personal_data, dispatch_uid="learning.personal_data")


def _hand_over_classes(sender: object, users: list, **kwargs: object) -> None:
    from learning.services import classrooms_hand_over

    classrooms_hand_over(teachers=users)


def _personal_data(sender: object, user: object, **kwargs: object) -> list:
    from learning.privacy import personal_data

    return personal_data(user)
