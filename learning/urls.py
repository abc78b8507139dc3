from __future__ import annotations

app_name = "learning"

urlpatterns: list = []
# Mounted under /api/v1/ by lms/urls.py.
api_urlpatterns: list = []

from learning import study_urls  # noqa: E402

urlpatterns += study_urls.urlpatterns
api_urlpatterns += study_urls.api_urlpatterns
