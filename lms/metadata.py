"""The API's answer to OPTIONS (REST_FRAMEWORK's DEFAULT_METADATA_CLASS).

Its own module: DRF reads the setting when `rest_framework.views` is first
imported, so the class must not live in a module that imports the views."""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class Metadata(SimpleMetadata):
    """DRF's. A generic view whose bodies are checked by serializers named in
    its methods rather than in `serializer_class` describes no "actions",
    instead of failing DRF's assertion (a 500)."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        from rest_framework.generics import GenericAPIView  # imports the views: see above

        if isinstance(view, GenericAPIView):
            overridden = type(view).get_serializer_class is not GenericAPIView.get_serializer_class
            if not overridden and getattr(view, "serializer_class", None) is None:
                return {}
        return super().determine_actions(request, view)
