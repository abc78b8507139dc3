from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.paginator import Paginator
from django.db import InterfaceError, OperationalError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from lms import audit, privacy, queueing, tasks
from lms import signup as signup_service
from lms.api import error_body
from lms.forms import AccountDeleteForm, AuditFilterForm, ProfileForm, SignUpForm
from lms.inputs import BadInput
from lms.models import ApiToken, DataExport, User
from lms.redirects import on_this_site
from lms.tokens import token_revoke, tokens_revoke_all
from lms.tracking import track

logger = logging.getLogger(__name__)


def _first_url(*names: str) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says: send them to the
    static SVG (resolved per request, so the hashed name of collectstatic is used)."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def home(request: HttpRequest) -> HttpResponse:
    """Send each role where it works."""
    if not request.user.is_authenticated:
        return render(request, "lms/landing.html")
    if request.user.role == User.Role.ADMIN:
        target = _first_url("ops:dashboard", "admin:index")
    elif request.user.role == User.Role.TEACHER:
        target = _first_url("learning:classroom_list", "learning:home")
    else:
        target = _first_url("learning:dashboard", "learning:home")
    if target:
        return redirect(target)
    return render(request, "lms/landing.html")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            mail = signup_service.signup_request(
                username=data["username"],
                email=data["email"],
                password=data["password1"],
                role=data["role"],
                timezone_name=data["timezone"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
        except signup_service.UsernameTaken:
            form.add_error("username", User._meta.get_field("username").error_messages["unique"])
            return render(request, "registration/signup.html", {"form": form}, status=400)
        next_url = request.GET["next"] if _safe_next(request) else ""
        # The same page, status and email route whether the address is new or
        # registered: nothing here tells a prober which (docs/privacy.md).
        # (A broker that cannot take it is logged: the page stays the same.)
        queueing.enqueue_on_commit(tasks.send_signup_mail, mail.kind, mail.user_id, next_url)
        return render(request, "registration/signup_check_email.html", {"email": data["email"]})
    # A rejected form answers 400 like every other form on the site.
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. GET shows a button; the POST activates and signs in.
    Mail scanners open links by themselves: a GET must not use up the link."""
    try:
        pending = signup_service.signup_pending_for(token=token)
        if request.method == "GET":
            return render(request, "registration/signup_confirm.html", {"pending": pending})
        user, next_url = signup_service.signup_confirm(token=token)
    except signup_service.SignupLinkInvalid:
        return render(request, "registration/signup_link_invalid.html", status=400)
    login(request, user, backend="lms.auth.CachedModelBackend")
    track("signup", user=user, role=user.role)
    messages.success(request, f"Welcome, {user.display_name}! Your account is ready.")
    return redirect(on_this_site(request, next_url) or "home")


def _safe_next(request: HttpRequest) -> bool:
    return bool(on_this_site(request, request.GET.get("next")))


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("profile")
    return render(request, "lms/profile.html", {"form": form})


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def too_large(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("too_large", "The request body is too large."), status=413)
    return render(request, "413.html", status=413)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Django reports a body over DATA_UPLOAD_MAX_MEMORY_SIZE (or too many
    # fields) as a 400; it is a "too large", and the sender should know that.
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        return too_large(request)
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return render(request, "400.html", status=400)


def bad_input(request: HttpRequest, problem: BadInput) -> HttpResponse:
    """Input refused by lms.middleware.InputGuardMiddleware: the error shape, or the 400 page."""
    if _wants_json(request):
        return JsonResponse(error_body(problem.code, problem.message, {"field": problem.where}), status=400)
    return render(request, "400.html", {"reason": problem.message}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    # Our views raise PermissionDenied with a sentence for the person ("Only
    # teachers can create classes."): show it instead of a bare "Not allowed".
    reason = str(exception or "")
    return render(request, "403.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


# Retry-After while the database cannot be reached (a restart or failover takes about this long).
DATABASE_RETRY_AFTER = 30


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block. The database being
    # unreachable (refused, reset, timed out) is an outage, not a bug in the
    # request: 503 with Retry-After, never a 500 (the drill: every API call
    # answered 500 while PostgreSQL was down). It is still logged as an error.
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        if _wants_json(request):
            response: HttpResponse = JsonResponse(
                error_body(
                    "service_unavailable",
                    "The service is briefly unavailable; please try again shortly.",
                    {"retry_after": DATABASE_RETRY_AFTER},
                ),
                status=503,
            )
        else:
            response = render(request, "503.html", status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged."), status=500
        )
    return render(request, "500.html", status=500)


@login_required
@require_http_methods(["GET"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The signed-in user's live API tokens, with where they were last used."""
    tokens = ApiToken.objects.active_for(request.user)
    return render(request, "lms/tokens.html", {"tokens": tokens, "ttl_days": settings.API_TOKEN_TTL_DAYS})


@login_required
@require_http_methods(["POST"])
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    # Another user's token is indistinguishable from one that does not exist.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    token_revoke(token=token)
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("token_list")


@login_required
@require_http_methods(["POST"])
def token_revoke_all_view(request: HttpRequest) -> HttpResponse:
    count = tokens_revoke_all(user=request.user)
    messages.success(request, f"{count} token(s) revoked.")
    return redirect("token_list")


@login_required
@require_http_methods(["GET"])
def audit_log(request: HttpRequest) -> HttpResponse:
    """Staff and security actions, newest first, filterable."""
    if not request.user.is_staff:
        raise PermissionDenied
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "lms/audit.html", {"form": form, "page": None}, status=400)
    filters = form.cleaned_data if form.is_bound else {}
    entries = audit.entries_for_page(
        actor=filters.get("actor", ""),
        content_type=filters.get("kind"),
        action=filters.get("action", ""),
        object_pk=filters.get("object_pk", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = [(entry, audit.event_name(entry)) for entry in page]
    query = {k: v for k, v in request.GET.items() if k != "page"}
    context = {"form": form, "page": page, "rows": rows, "query": query}
    return render(request, "lms/audit.html", {**context, "retention_days": settings.AUDIT_LOG_RETENTION_DAYS})


def privacy_policy(request: HttpRequest) -> HttpResponse:
    """What is kept, for how long and why (public)."""
    return render(
        request,
        "lms/privacy.html",
        {
            "event_days": settings.OPS_EVENT_RETENTION_DAYS,
            "audit_days": settings.AUDIT_LOG_RETENTION_DAYS,
            "axes_days": settings.AXES_RECORD_RETENTION_DAYS,
            "token_days": settings.API_TOKEN_TTL_DAYS,
            "grace_days": settings.ACCOUNT_DELETION_GRACE_DAYS,
            "export_hours": settings.DATA_EXPORT_TTL_HOURS,
            "signup_hours": settings.SIGNUP_CONFIRM_TTL_HOURS,
        },
    )


@login_required
@require_http_methods(["GET"])
def my_data(request: HttpRequest) -> HttpResponse:
    exports = request.user.data_exports.all()[:5]
    return render(
        request,
        "lms/my_data.html",
        {"exports": exports, "now": timezone.now(), "export_hours": settings.DATA_EXPORT_TTL_HOURS},
    )


@login_required
@require_http_methods(["POST"])
def data_export_new(request: HttpRequest) -> HttpResponse:
    export = privacy.data_export_request(user=request.user)
    if export.status == DataExport.Status.PENDING and not tasks.queue_data_export(export.pk):
        # Still pending: asking again sends it again.
        messages.error(request, "We could not start preparing your data just now. Please try again in a few minutes.")
        return redirect("my_data")
    messages.success(request, "We are preparing your data; we will email you a link when it is ready.")
    return redirect("my_data")


@login_required
@require_http_methods(["GET"])
def data_export_download(request: HttpRequest, export_id: int) -> FileResponse:
    export = privacy.get_data_export_for(request.user, export_id)
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=export.file.name.rsplit("/", 1)[-1])


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user
        privacy.account_deletion_request(user=user)
        logout(request)
        messages.success(
            request,
            f"Your account will be deleted in {settings.ACCOUNT_DELETION_GRACE_DAYS} days. "
            "Log in before then to cancel.",
        )
        return redirect("login")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "lms/account_delete.html",
        {"form": form, "grace_days": settings.ACCOUNT_DELETION_GRACE_DAYS},
        status=status,
    )
