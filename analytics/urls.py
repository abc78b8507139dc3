from __future__ import annotations

app_name = "analytics"

urlpatterns: list = []
# Mounted under /api/v1/ by lms/urls.py.
api_urlpatterns: list = []
