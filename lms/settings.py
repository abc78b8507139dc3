"""Settings for the Flashcard LMS.

One module, every knob read from the environment through the small typed helpers
below. With nothing set, the project runs on embedded defaults (SQLite,
local-memory cache, eager Celery) so `make run` works on a fresh machine. Every
variable is documented in the README.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


TESTING = "pytest" in sys.modules or os.getenv("LMS_TESTING") == "1"
DEBUG = envbool("DEBUG", "1")
VERSION = os.getenv("APP_VERSION", "0.1.0")
ENVIRONMENT = os.getenv("ENVIRONMENT", "development" if DEBUG else "production")

_INSECURE_KEY = "django-insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.getenv("SECRET_KEY", _INSECURE_KEY)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")

if not DEBUG:
    # Refuse to start half-configured: a production process with a guessable
    # key or an open Host header is worse than one that does not start.
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a random string of at least 50 characters "
            "and ALLOWED_HOSTS to the site's host names."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS (comma-separated host names).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "waffle",
    "axes",
    "auditlog",
    "lms",
    "learning",
    "analytics",
    "ops",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "lms.middleware.RequestIdMiddleware",
    "ops.middleware.RequestMetricsMiddleware",
    "ops.middleware.StatusFallbackMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lms.middleware.InternalEndpointsMiddleware",
    "lms.middleware.RequestSizeMiddleware",
    "lms.middleware.ContentSecurityPolicyMiddleware",
    "lms.middleware.InputGuardMiddleware",
    # Answers an anonymous GET of /status/ from the cached page (see ops.middleware).
    "ops.middleware.StatusFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lms.request_context.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "lms.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lms.middleware.UserTimezoneMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "ops.middleware.MaintenanceModeMiddleware",
    "axes.middleware.AxesMiddleware",
    "analytics.flags.FlagsMiddleware",
    "analytics.middleware.AnalyticsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "lms.urls"
WSGI_APPLICATION = "lms.wsgi.application"
AUTH_USER_MODEL = "lms.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lms.context_processors.site",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = os.getenv("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=envint("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.getenv("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }
# Route every query through django-prometheus so /metrics has database metrics.
_db_engine = DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
DATABASES["default"]["ENGINE"] = {
    "postgresql": "django_prometheus.db.backends.postgresql",
    "sqlite3": "django_prometheus.db.backends.sqlite3",
}.get(_db_engine, DATABASES["default"]["ENGINE"])
IS_POSTGRES = _db_engine == "postgresql"
# 0 behind a pooler in transaction mode without prepared-statement support.
DB_PREPARED_STATEMENTS = IS_POSTGRES and envbool("DB_PREPARED_STATEMENTS", "1")
if _db_engine == "sqlite3":
    # Tests on SQLite use an in-memory database. Said explicitly because the
    # prometheus wrapper hides the engine from pytest-django, which would
    # otherwise name per-worker (-n 2) test databases after the file path.
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery --------------------------------------------------------
REDIS_URL = os.getenv("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "lms.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lms",
            # Fail open: a Redis outage makes every read a miss and every write a
            # no-op (pages slow down, throttles let requests through), never a 500;
            # short timeouts, and after a failure CACHE_BREAKER_SECONDS of misses
            # without trying, so a hung Redis costs a request at most one timeout.
            "OPTIONS": {
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": float(os.getenv("CACHE_SOCKET_TIMEOUT", "0.25")),
                "SOCKET_TIMEOUT": float(os.getenv("CACHE_SOCKET_TIMEOUT", "0.25")),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "LOCATION": "lms-default",
        }
    }

if TESTING and not envbool("LMS_TEST_REAL_CACHE", "0"):
    # Tests are isolated from each other's cache entries (throttle counters!);
    # the few tests that need the real Redis connect to REDIS_URL themselves.
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache", "LOCATION": "lms-tests"}}

CACHE_BREAKER_SECONDS = envint("CACHE_BREAKER_SECONDS", 5)
# Invalidations (deletes, token bumps) a process could not send are kept and
# sent when Redis answers again; past this many keys it deletes every key of
# the cache instead (lms.cache).
CACHE_UNSENT_MAX = envint("CACHE_UNSENT_MAX", 10_000)
# How long a user's cached visible decks live (learning.visibility): they are
# invalidated explicitly, and this bounds what an invalidation lost with a
# process that died while Redis failed can leak (a removed student reading a
# class's decks).
VISIBLE_DECKS_CACHE_SECONDS = envint("VISIBLE_DECKS_CACHE_SECONDS", 300)
# An error Redis answers that is not its state (OOM, READONLY, MISCONF, BUSY...
# fall back like an outage) but our command's (a wrong argument or key type):
# raised under DEBUG and in tests so it is seen; in production the feature
# falls back and it is logged as an error (lms.cache).
CACHE_RAISE_COMMAND_ERRORS = envbool("CACHE_RAISE_COMMAND_ERRORS", "1" if DEBUG or TESTING else "0")

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = TESTING or envbool("CELERY_TASK_ALWAYS_EAGER", "0" if REDIS_URL else "1")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 14 * 60)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Nobody reads a task's result outside the eager mode (state lives in our own
# rows: ImportJob, BackupDrill, DataExport...). Storing results also made
# every send first subscribe to the result channel on the Redis backend, which
# retries 20 times a second apart: with Redis down each `delay()` (a web
# request's, each of beat's sends) blocked 19 s, and gave up with "the Celery
# application must be restarted" (drill of 2026-12-07, docs/ops.md).
CELERY_TASK_IGNORE_RESULT = True
# Sending a task when the broker is down or hung fails within a few seconds
# instead of waiting: kombu's Redis transport has no socket timeout by default
# (a publish to a hung Redis waited for ever, and beat with it), and one
# retry on a fresh connection covers a pooled one Redis closed.
CELERY_BROKER_SOCKET_TIMEOUT = float(os.getenv("CELERY_BROKER_SOCKET_TIMEOUT", "1"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
    "socket_connect_timeout": CELERY_BROKER_SOCKET_TIMEOUT,
}
CELERY_BROKER_CONNECTION_TIMEOUT = CELERY_BROKER_SOCKET_TIMEOUT
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The result backend, for whoever still asks for a result: the same bounds.
CELERY_REDIS_SOCKET_TIMEOUT = CELERY_BROKER_SOCKET_TIMEOUT
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_SOCKET_TIMEOUT
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
}
# django-celery-beat's database scheduler that survives a database outage and writes a heartbeat (ops/beat.py).
CELERY_BEAT_SCHEDULER = "ops.beat:Scheduler"
CELERY_TIMEZONE = "UTC"

# --- Auth --------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # The session's user from the cache (lms.auth); Django's own stays listed
    # for sessions that name it (made before the cached one existed).
    "lms.auth.CachedModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_USER_CACHE_SECONDS = envint("AUTH_USER_CACHE_SECONDS", 300)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# API tokens live this many days from the log-in that issued them (not renewed on use).
API_TOKEN_TTL_DAYS = envint("API_TOKEN_TTL_DAYS", 30)

# django-auditlog: staff and security actions, with who, when, from where and
# the before/after of each field. Machine-maintained fields are left out so
# the detector and guardrails do not flood the log. See docs/privacy.md.
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {"model": "lms.User", "include_fields": ["username", "email", "role", "is_active", "is_staff", "is_superuser"]},
    {"model": "ops.DetectionRule", "exclude_fields": ["holding_since"]},
    {"model": "ops.Incident", "exclude_fields": ["last_fired_at"]},
    {"model": "ops.IncidentUpdate"},
    {"model": "ops.MaintenanceWindow"},
    {"model": "ops.BackupDrill"},
    {"model": "analytics.Flag", "exclude_fields": ["guard_state", "guard_since", "guard_note", "step_changed_at"]},
    {"model": "waffle.Switch"},
)
AUDITLOG_STORE_JSON_CHANGES = True
AUDIT_LOG_RETENTION_DAYS = envint("AUDIT_LOG_RETENTION_DAYS", 730)

# "Download my data": the zip can be downloaded for this many hours.
DATA_EXPORT_TTL_HOURS = envint("DATA_EXPORT_TTL_HOURS", 72)
# Its build task lost (a worker killed mid-build, a broker restarted without
# persistence, a failed send): the sweep (lms.tasks.sweep_data_exports, every 5
# minutes) sends it again once it has waited this long for a worker after its last send,
DATA_EXPORT_QUEUE_STALE_SECONDS = envint("DATA_EXPORT_QUEUE_STALE_SECONDS", 5 * 60)
# or once a build claimed it this long ago without finishing; keep it above
# CELERY_TASK_TIME_LIMIT, after which no build can still be running,
DATA_EXPORT_CLAIM_STALE_SECONDS = envint("DATA_EXPORT_CLAIM_STALE_SECONDS", CELERY_TASK_TIME_LIMIT + 5 * 60)
# and marks it failed (the person can ask again) after this many builds died,
DATA_EXPORT_MAX_ATTEMPTS = envint("DATA_EXPORT_MAX_ATTEMPTS", 3)
# or when it is still waiting this many hours after it was asked for (no worker
# took any of its sends: at most hours x 12 copies of its message wait in a
# dead queue, each a no-op once it is failed).
DATA_EXPORT_GIVE_UP_HOURS = envint("DATA_EXPORT_GIVE_UP_HOURS", 6)
# "Delete my account": days before a scheduled job deletes it (logging in cancels).
ACCOUNT_DELETION_GRACE_DAYS = envint("ACCOUNT_DELETION_GRACE_DAYS", 7)
# Sign-up: the emailed confirmation link works for this many hours; an account
# still unconfirmed after that is deleted by the daily privacy job.
SIGNUP_CONFIRM_TTL_HOURS = envint("SIGNUP_CONFIRM_TTL_HOURS", 72)

# How long django-axes' records of log-ins and failed log-ins (username, address)
# are kept; deleted by the weekly maintenance.
AXES_RECORD_RETENTION_DAYS = envint("AXES_RECORD_RETENTION_DAYS", 30)
# Browser sessions end after this long without a request (lms.middleware.IdleTimeoutMiddleware);
# staff, who can change more, are signed out sooner. 0 turns the idle timeout off.
SESSION_IDLE_MINUTES = envint("SESSION_IDLE_MINUTES", 120)
SESSION_IDLE_MINUTES_STAFF = envint("SESSION_IDLE_MINUTES_STAFF", 30)

# django-axes: lock a username+address pair after repeated failures; the
# attempts it records also feed the weekly security report.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = envbool("AXES_ENABLED", "1")
AXES_IPWARE_PROXY_COUNT = envint("PROXY_COUNT", 0)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# --- Email -------------------------------------------------------------------
EMAIL_HOST = os.getenv("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "1")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Flashcard LMS <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18N / time ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media ------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.getenv("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploads over the size above, and the media an Anki import unpacks
# (learning.transfer.MediaStaging), go here; unset: the system's temporary folder.
FILE_UPLOAD_TEMP_DIR = os.getenv("FILE_UPLOAD_TEMP_DIR") or None
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024  # media files are at most 10 MB
MAX_MEDIA_BYTES = 10 * 1024 * 1024
# Anki/CSV/JSON imports (learning/transfer.py): notes per package, media
# unpacked from one package, and the SQLite time budget for reading one.
IMPORT_MAX_NOTES = envint("IMPORT_MAX_NOTES", 50_000)
IMPORT_MAX_MEDIA_BYTES = envint("IMPORT_MAX_MEDIA_BYTES", 1024 * 1024 * 1024)
IMPORT_SQLITE_SECONDS = envint("IMPORT_SQLITE_SECONDS", 5)
# Imports with more cards than this run as a Celery task (202 + status URL).
IMPORT_BACKGROUND_CARDS = envint("IMPORT_BACKGROUND_CARDS", 3000)
# A background import whose progress has not moved for this long is failed by the
# sweep (learning.tasks.sweep_import_jobs, every 5 minutes) and its upload removed.
IMPORT_STALE_SECONDS = envint("IMPORT_STALE_SECONDS", 30 * 60)
# A deck import's upload (page and API): refused from its Content-Length above this,
# streamed to a temporary file below it (removed when the request ends), and a
# package is read from that file member by member, its media staged on disk
# (learning.transfer.MediaStaging, at most IMPORT_MAX_MEDIA_BYTES). By default the
# media allowance plus headroom for the collection itself (50,000 notes of text).
IMPORT_MAX_UPLOAD_BYTES = envint("IMPORT_MAX_UPLOAD_BYTES", IMPORT_MAX_MEDIA_BYTES + 256 * 1024 * 1024)
IMPORT_UPLOAD_VIEWS = (
    "learning:deck_import",
    "learning:deck_import_new",
    "learning:lesson_deck_import",
    "deck-import-cards",
    "deck-import-deck",
)
# Any other request body, files included: refused from its Content-Length.
MAX_REQUEST_BYTES = envint("MAX_REQUEST_BYTES", 60 * 1024 * 1024)
# lms.middleware.InputGuardMiddleware: JSON bodies nested deeper are a 400 (Python's parser
# recurses per level); any one string (query, form field, JSON) longer is a 400 too, a
# backstop under each field's own limit.
INPUT_MAX_JSON_DEPTH = envint("INPUT_MAX_JSON_DEPTH", 64)
INPUT_MAX_STRING_CHARS = envint("INPUT_MAX_STRING_CHARS", 500_000)
# The longest value of a model TextField through the API when its serializer sets no limit of its own.
TEXT_FIELD_MAX_CHARS = envint("TEXT_FIELD_MAX_CHARS", 100_000)

# --- Security --------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "0" if DEBUG else "1")
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]  # probes speak plain HTTP inside the cluster
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (Redis when REDIS_URL is set) and written
# through to the database: a signed-in page costs no session query. A miss
# (Redis down or evicted) reads the database row. Ending sessions outside
# Django's own log-out must drop the cached copy too (lms.tokens); a copy
# whose delete was lost lives SESSION_CACHE_SECONDS at most (lms.sessions).
SESSION_ENGINE = "lms.sessions"
SESSION_CACHE_SECONDS = envint("SESSION_CACHE_SECONDS", 300)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
# When set, /metrics and /health/detailed/ need `Authorization: Bearer <token>`.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")
# Addresses (CIDR, comma-separated) that reach them without the token, e.g. the
# Prometheus network; and, with no token set, whether they are open to anyone.
INTERNAL_ALLOWED_NETWORKS = envlist("INTERNAL_ALLOWED_NETWORKS")
for _network in INTERNAL_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"INTERNAL_ALLOWED_NETWORKS: {exc}") from exc
INTERNAL_ENDPOINTS_OPEN = envbool("INTERNAL_ENDPOINTS_OPEN", "1" if DEBUG else "0")
CONTENT_SECURITY_POLICY = os.getenv(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
)

# --- REST framework --------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous API calls 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "lms.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_METADATA_CLASS": "lms.metadata.Metadata",
    "DEFAULT_PAGINATION_CLASS": "lms.pagination.Pagination",
    "PAGE_SIZE": 50,
    # Without it DRF keys throttles on the whole X-Forwarded-For header, which
    # any client can set: a new invented address per request, no throttle.
    "NUM_PROXIES": envint("PROXY_COUNT", 0),
    "DEFAULT_THROTTLE_CLASSES": [
        # DRF's, with one Redis round trip a request (lms/throttling.py).
        "lms.throttling.AnonRateThrottle",
        "lms.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.getenv("API_THROTTLE_ANON", "30/minute"),
        "user": os.getenv("API_THROTTLE_USER", "100/minute"),
        "auth": os.getenv("API_THROTTLE_AUTH", "10/minute"),
        "events": os.getenv("API_THROTTLE_EVENTS", "60/minute"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "lms.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "lms.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flashcard LMS API",
    "DESCRIPTION": "Classes, decks and spaced-repetition study; analytics and operations.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lms.schema.add_error_responses",
    ],
}
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {"SchedulerEnum": "learning.schedulers.CHOICES", "CardStatusEnum": "learning.models.CardState.Status"}
)

# --- Metrics -------------------------------------------------------------------
PROMETHEUS_EXPORT_MIGRATIONS = False
PROMETHEUS_METRIC_NAMESPACE = ""

# --- Logging ---------------------------------------------------------------------
LOG_LEVEL = os.getenv("LOG_LEVEL", "INFO")
LOG_FORMAT = os.getenv("LOG_FORMAT", "text" if DEBUG else "json")
# One access line per request from our middleware (gunicorn's own access log is
# off in lms/gunicorn.conf.py so every line is JSON with the request id).
LOG_REQUESTS = envbool("LOG_REQUESTS", "0" if DEBUG else "1")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "lms.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "lms.logging.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT if LOG_FORMAT in {"json", "text"} else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}

# --- Sentry ------------------------------------------------------------------------
SENTRY_DSN = os.getenv("SENTRY_DSN", "")
if SENTRY_DSN:
    from lms.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=ENVIRONMENT, release=VERSION)

# --- Product knobs -----------------------------------------------------------------
SITE_NAME = os.getenv("SITE_NAME", "Flashcard LMS")
SITE_URL = os.getenv("SITE_URL", "http://127.0.0.1:8000")
HEALTH_DISK_DEGRADED_PERCENT = envint("HEALTH_DISK_DEGRADED_PERCENT", 90)
HEALTH_DISK_UNHEALTHY_PERCENT = envint("HEALTH_DISK_UNHEALTHY_PERCENT", 97)
# Each health check answers within this many seconds (or is reported unhealthy).
HEALTH_CHECK_TIMEOUT = float(os.getenv("HEALTH_CHECK_TIMEOUT", "0.9"))
# /health/detailed/ reuses its last answer this long (per process).
HEALTH_DETAILED_CACHE_SECONDS = envint("HEALTH_DETAILED_CACHE_SECONDS", 0 if TESTING else 5)
# The hour (0-23, the student's time zone) a study day starts, as in Anki:
# daily limits, "due today" and streaks roll over at 4 am, not at midnight.
STUDY_DAY_START_HOUR = envint("STUDY_DAY_START_HOUR", 4)
# How long a student's dashboard may be served from the cache (it is also
# dropped on each of their answers and on enrolment, content and class
# changes); 0 turns the cache off.
DASHBOARD_CACHE_SECONDS = envint("DASHBOARD_CACHE_SECONDS", 300)
# The same for a class's progress page (dropped on answers in the class).
CLASS_PROGRESS_CACHE_SECONDS = envint("CLASS_PROGRESS_CACHE_SECONDS", 60)
if not 0 <= STUDY_DAY_START_HOUR <= 23:
    raise ImproperlyConfigured("STUDY_DAY_START_HOUR must be an hour from 0 to 23")
# Test mode: typos allowed per character of the expected answer (0.15: one
# from 7 letters, two from 14; shorter answers must be exact). 0 turns it off.
try:
    TEST_TYPO_TOLERANCE = float(os.getenv("TEST_TYPO_TOLERANCE", "0.15"))
except ValueError as exc:
    raise ImproperlyConfigured("TEST_TYPO_TOLERANCE must be a number such as 0.15") from exc
if not 0 <= TEST_TYPO_TOLERANCE <= 0.5:
    raise ImproperlyConfigured("TEST_TYPO_TOLERANCE must be between 0 and 0.5")

# --- Backups -----------------------------------------------------------------------
BACKUP_DIR = Path(os.getenv("BACKUP_DIR", BASE_DIR / "backups"))
BACKUP_KEEP = envint("BACKUP_KEEP", 14)
BACKUP_MAX_AGE_HOURS = envint("BACKUP_MAX_AGE_HOURS", 26)

# --- Analytics -----------------------------------------------------------------------
# Off by default under pytest so other apps' query-count tests do not see the
# analytics INSERT; the analytics tests switch it on.
ANALYTICS_ENABLED = envbool("ANALYTICS_ENABLED", "0" if TESTING else "1")
ANALYTICS_RETENTION_DAYS = envint("ANALYTICS_RETENTION_DAYS", 90)  # raw events; rollups are kept
ANALYTICS_MAX_BATCH = envint("ANALYTICS_MAX_BATCH", 100)  # browser events per POST
ANALYTICS_MAX_PROPERTIES_BYTES = envint("ANALYTICS_MAX_PROPERTIES_BYTES", 2048)  # per event, as JSON
# A funnel asked again with the same definition is answered from the cache for
# this long (new events may lag by it; deleted events never do); 0 turns it off.
ANALYTICS_FUNNEL_CACHE_SECONDS = envint("ANALYTICS_FUNNEL_CACHE_SECONDS", 0 if TESTING else 60)
# Feature flags: waffle's Flag with our strategies; definitions cached briefly across requests.
WAFFLE_FLAG_MODEL = "analytics.Flag"
FLAGS_CACHE_SECONDS = envint("FLAGS_CACHE_SECONDS", 10)
FLAGS_STALE_DAYS = envint("FLAGS_STALE_DAYS", 30)
if IS_POSTGRES:
    # PostgreSQL's JIT compiler spends seconds compiling the analytics queries (their
    # correlated lookups look expensive to the planner) and never pays off for this app's
    # short OLTP queries either; measured by bench/analytics_bench.py: 4-step funnel 2.5 s -> 0.4 s.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    # A PostgreSQL that accepts connections and never answers must not hang a
    # worker (or a health check) forever: libpq gives up connecting after this.
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", envint("DB_CONNECT_TIMEOUT", 5))
    # The study loop's statements sent with server-side binding and prepared on
    # each connection (lms/rawsql.py): PostgreSQL then skips parsing and
    # planning them, about half of its CPU per answer (docs/performance.md).
    # psycopg prepares only when asked while its threshold is a number (None,
    # Django's default, turns preparing off): a count no statement reaches.
    if DB_PREPARED_STATEMENTS:
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 2**62)
# A read replica for analytics and report reads (lms/routers.py); without one
# those reads go to the primary.
DATABASE_REPLICA_URL = os.getenv("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL and IS_POSTGRES:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60), conn_health_checks=True
    )
    DATABASES["replica"].update(
        ENGINE=DATABASES["default"]["ENGINE"],
        OPTIONS={**DATABASES["replica"].get("OPTIONS", {}), "options": "-c jit=off"},
        TEST={"MIRROR": "default"},
    )
DATABASE_ROUTERS = ["lms.routers.ReplicaRouter"]

# --- Ops -------------------------------------------------------------------------
# Incident targets per severity (minutes): respond within / resolve within.
OPS_SEVERITY_TARGETS = {
    1: {"respond_minutes": 15, "resolve_minutes": 2 * 60},
    2: {"respond_minutes": 30, "resolve_minutes": 4 * 60},
    3: {"respond_minutes": 2 * 60, "resolve_minutes": 24 * 60},
    4: {"respond_minutes": 24 * 60, "resolve_minutes": 7 * 24 * 60},
}
OPS_METRICS_MINUTE_RETENTION_DAYS = envint("OPS_METRICS_MINUTE_RETENTION_DAYS", 30)
OPS_PROBE_RETENTION_DAYS = envint("OPS_PROBE_RETENTION_DAYS", 100)
OPS_EVENT_RETENTION_DAYS = envint("OPS_EVENT_RETENTION_DAYS", 180)
OPS_ABANDONED_SESSION_HOURS = envint("OPS_ABANDONED_SESSION_HOURS", 24)
OPS_ONCALL_EMAILS = envlist("OPS_ONCALL_EMAILS")
OPS_INCIDENT_WEBHOOK_URL = os.getenv("OPS_INCIDENT_WEBHOOK_URL", "")
# Empty (the default): the web probe requests /health/live/ through this
# process's own WSGI handler, so it holds on any host and port. Set it to probe
# over HTTP instead (e.g. through the load balancer).
OPS_WEB_PROBE_URL = os.getenv("OPS_WEB_PROBE_URL", "")
OPS_WEB_PROBE_SLOW_MS = envint("OPS_WEB_PROBE_SLOW_MS", 1000)
OPS_MAINTENANCE_RETRY_AFTER = envint("OPS_MAINTENANCE_RETRY_AFTER", 600)
OPS_STATUS_CACHE_SECONDS = envint("OPS_STATUS_CACHE_SECONDS", 30)
# How long a web process serves its copy of the anonymous status page without
# asking Redis for the page's version: another process's change (a probe, an
# incident) shows within this much; the process's own change at once. Within
# the HTTP max-age below, which lets browsers keep the page longer anyway.
# Tests check every time (they play other processes by changing Redis).
OPS_STATUS_RECHECK_MS = envint("OPS_STATUS_RECHECK_MS", 0 if TESTING else 1000)
# Browsers and shared caches may keep the public status page this long.
OPS_STATUS_HTTP_MAX_AGE = envint("OPS_STATUS_HTTP_MAX_AGE", 10)
# The status page's last good copy (served while the database is down).
OPS_STATUS_SNAPSHOT_DIR = Path(os.getenv("OPS_STATUS_SNAPSHOT_DIR", BASE_DIR / "var" / "status"))
# The watchdog's outage state (components -> {status, since, message}); shown
# on the status page while it is younger than OPS_WATCHDOG_STATE_MAX_AGE seconds.
WATCHDOG_STATE_FILE = Path(os.getenv("WATCHDOG_STATE_FILE", BASE_DIR / "var" / "watchdog-state.json"))
OPS_WATCHDOG_STATE_MAX_AGE = envint("OPS_WATCHDOG_STATE_MAX_AGE", 180)
OPS_METRICS_REDIS_PREFIX = os.getenv("OPS_METRICS_REDIS_PREFIX", "ops:metrics")
OPS_METRICS_SELF_FLUSH = envbool("OPS_METRICS_SELF_FLUSH", "0" if TESTING else "1")
OPS_STATUS_UPTIME_DAYS = 90
# Monthly SLA report (ops.sla): availability target per component and overall, and the other targets.
OPS_SLA_TARGET_PERCENT = float(os.getenv("OPS_SLA_TARGET_PERCENT", "99.5"))
OPS_SLA_MTTD_MINUTES = envint("OPS_SLA_MTTD_MINUTES", 5)
OPS_SLA_MTTR_MINUTES = envint("OPS_SLA_MTTR_MINUTES", 60)
OPS_SLA_P95_MS = envint("OPS_SLA_P95_MS", 500)
OPS_SLA_ERROR_RATE_PERCENT = float(os.getenv("OPS_SLA_ERROR_RATE_PERCENT", "0.5"))
# Knowledge base: a published article not reviewed for this many days is stale (a weekly reminder lists them).
OPS_KB_REVIEW_DAYS = envint("OPS_KB_REVIEW_DAYS", 90)
# Status subscriptions: webhooks to private or loopback addresses are refused unless allowed (tests, local use).
OPS_SUBSCRIBER_WEBHOOK_ALLOW_PRIVATE = envbool("OPS_SUBSCRIBER_WEBHOOK_ALLOW_PRIVATE", "1" if DEBUG or TESTING else "0")
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per failed log-in feeds the weekly security report
# Name the ops enums in the OpenAPI schema (other apps have "status" fields too).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "IncidentSeverityEnum": "ops.models.Severity",
        "IncidentStatusEnum": "ops.models.Incident.Status",
        "ComponentEnum": "ops.models.HealthProbe.Component",
    }
)
# Without Celery beat (embedded mode) the status page probes on demand when the last probe is stale.
OPS_PROBE_ON_STATUS_VIEW = envbool("OPS_PROBE_ON_STATUS_VIEW", "1" if CELERY_TASK_ALWAYS_EAGER and not TESTING else "0")
# How long a process trusts its view of the maintenance-mode switch (0: never re-read; tests).
OPS_MAINTENANCE_CHECK_SECONDS = envint("OPS_MAINTENANCE_CHECK_SECONDS", 0 if TESTING else 5)

# --- Watchdog and beat heartbeat (ops/watchdog.py, ops/heartbeat.py) ------------------
# Beat writes its heartbeat here (and to Redis) on every tick; older than OPS_BEAT_STALE_SECONDS is "beat down".
OPS_BEAT_HEARTBEAT_FILE = os.getenv(
    "OPS_BEAT_HEARTBEAT_FILE", os.path.join(tempfile.gettempdir(), "lms-beat-heartbeat")
)
# 90 s: the drill measured beat's heartbeat at most ~20 s apart even while Redis
# was down (each publish retries ~19 s), and a dead beat must open its incident
# within 2 minutes (150 s took 165-180 s with the watchdog's cycle).
OPS_BEAT_STALE_SECONDS = envint("OPS_BEAT_STALE_SECONDS", 90)
# A component with no probe for this long is an outage of unknown cause (status page, detection).
OPS_PROBE_GAP_MINUTES = envint("OPS_PROBE_GAP_MINUTES", 2)
WATCHDOG_INTERVAL_SECONDS = envint("WATCHDOG_INTERVAL_SECONDS", 30)
WATCHDOG_TIMEOUT_SECONDS = float(os.getenv("WATCHDOG_TIMEOUT_SECONDS", "3"))
WATCHDOG_JOURNAL = os.getenv("WATCHDOG_JOURNAL", str(BASE_DIR / "var" / "watchdog.sqlite3"))
WATCHDOG_PING_URL = os.getenv("WATCHDOG_PING_URL", "")
WATCHDOG_WEB_URL = os.getenv("WATCHDOG_WEB_URL", OPS_WEB_PROBE_URL)
