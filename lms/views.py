from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_http_methods

from lms.api import error_body
from lms.forms import ProfileForm, SignUpForm
from lms.models import User
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
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        track("signup", user=user, role=user.role)
        messages.success(request, f"Welcome, {user.display_name}! Your account is ready.")
        return redirect(request.GET["next"] if _safe_next(request) else "home")
    # A rejected form answers 400 like every other form on the site.
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


def _safe_next(request: HttpRequest) -> bool:
    from django.utils.http import url_has_allowed_host_and_scheme

    nxt = request.GET.get("next")
    # require_https: a page served over HTTPS must not send people on to http://.
    return bool(nxt) and url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


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


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged."), status=500
        )
    return render(request, "500.html", status=500)
