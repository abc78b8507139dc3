"""API plumbing shared by every app: pagination, the error body, auth endpoints."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from lms.errors import ServiceError
from lms.models import User
from lms.privacy import account_deletion_cancel
from lms.throttling import AnonRateThrottle
from lms.tokens import ExpiringTokenAuthentication, token_issue, token_revoke

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _message_of(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict) and detail:
        return _message_of(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error as {"error": {"code", "message", "details"}}."""
    if isinstance(exc, ServiceError):
        if exc.retry_after is None:
            return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
        details = {**exc.details, "retry_after": exc.retry_after}
        response = Response(error_body(exc.code, exc.message, details), status=exc.status)
        response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(details)
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", "The request body is too large."), status=413)
    elif isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", "The request could not be understood."), status=400)
    elif isinstance(exc, IntegrityError):
        # A unique constraint lost a race with another request: the caller can retry.
        logger.info("integrity error turned into 409: %s", exc)
        return Response(error_body("conflict", "The change conflicts with existing data."), status=409)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let it be a 500 and reach Sentry

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("validation_error", f"Invalid input: {_message_of(detail)}", detail)
        return response

    code = exc.default_code if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details["retry_after"] = int(exc.wait + 0.999)
    message = _message_of(getattr(exc, "detail", str(exc)))
    response.data = error_body(code, message, details)
    return response


class AuthThrottle(AnonRateThrottle):
    """Token requests are rate-limited per address whoever is asking."""

    scope = "auth"


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "role", "timezone", "is_staff"]
        read_only_fields = fields


class TokenView(APIView):
    """POST logs in (a new token per log-in); DELETE logs out (revokes the token in use)."""

    throttle_classes = [AuthThrottle]

    def get_authenticators(self) -> list:
        # Logging in must work whatever stale token the client still sends;
        # logging out needs the token itself (a browser session has none to revoke).
        if getattr(self.request, "method", None) == "POST":
            return []
        return [ExpiringTokenAuthentication()]

    def get_permissions(self) -> list:
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses={
            200: inline_serializer(
                "TokenResponse", {"token": serializers.CharField(), "expires": serializers.DateTimeField()}
            ),
            400: OpenApiResponse(description="Wrong credentials"),
            429: OpenApiResponse(description="Locked out after repeated failures, or throttled"),
        },
        summary="Exchange a username and password for an API token",
    )
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        if not serializer.is_valid():
            # django-axes refused even to check the password: say so (429, like
            # the log-in page) instead of "wrong credentials", which invites retries.
            if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
                return Response(
                    error_body("locked_out", "Too many failed log-ins; try again later."),
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        account_deletion_cancel(user=user)  # logging in, by API too, cancels a pending deletion
        token, raw = token_issue(user=user, request=request._request)
        return Response({"token": raw, "expires": token.expires}, status=status.HTTP_200_OK)

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked"),
            401: OpenApiResponse(description="No valid token was sent"),
        },
        summary="Log out: revoke the token sent with this request",
    )
    def delete(self, request: Request) -> Response:
        token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=UserSerializer, summary="The signed-in user, with their role")
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)
