"""Two endpoints that do what an answer cannot avoid and nothing else, mounted
beside the project's own URLs on the server `bench.study_floor` starts.

- `POST /bench/floor/api/`: a DRF view with the project's API defaults — the
  token lookup, the per-user throttle's Redis round trip, the JSON body parsed
  — then a transaction of three prepared statements (an answer's locked read,
  its write and the next card: `lms.rawsql.fetch_one`, as the study loop runs
  them) and a JSON body the size of an answer's.
- `POST /bench/floor/plain/`: the same transaction and body from a plain
  Django view, anonymous: no authentication, no throttle, no DRF.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from lms import rawsql

# About what `answer/?next=1` sends back (1.5-2 KB of JSON).
BODY = {f"field_{n}": "x" * 20 for n in range(60)}
STATEMENT = "SELECT CAST(%s AS INTEGER) + 1, CAST(%s AS TEXT)"


def _three_statements() -> None:
    with transaction.atomic():
        for n in range(3):
            rawsql.fetch_one(STATEMENT, [n, "floor"])


@api_view(["POST"])
def floor_api(request: Request) -> Response:
    request.data  # noqa: B018 - parsed, as an answer's body is
    _three_statements()
    return Response(BODY, status=201)


@csrf_exempt
def floor_plain(request: HttpRequest) -> JsonResponse:
    _three_statements()
    return JsonResponse(BODY, status=201)


urlpatterns = [
    path("bench/floor/api/", floor_api),
    path("bench/floor/plain/", floor_plain),
    path("", include("lms.urls")),
]

handler400 = "lms.views.bad_request"
handler403 = "lms.views.permission_denied"
handler404 = "lms.views.page_not_found"
handler500 = "lms.views.server_error"
