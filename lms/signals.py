"""Signals other apps answer; lms sends them and imports none of those apps."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with `users` (a list of User) before those accounts are deleted, while
# their rows still exist: Django collects cascades before pre_delete fires, so
# that signal is too late to move anything out of the way. Learning hands a
# teacher's classes over here, so deleting a teacher never deletes students'
# progress.
user_deleting = Signal()

# Sent with `user` when their data export is built. Each receiver returns a list
# of (path inside the zip, bytes) for the data its app holds about that user,
# and nothing about anyone else. A receiver that fails fails the export: a
# silently partial "all my data" would be worse than a retry.
personal_data_requested = Signal()
