"""Settings for the LDN Titration Tracker.

One module, driven by environment variables. The defaults are safe for a local
run on SQLite; production sets ``DEBUG=0`` and must then provide a real
``SECRET_KEY`` (the app refuses to start without one).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_INSECURE_KEY = "django-insecure-local-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _INSECURE_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 50 characters when DEBUG=0.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Django's admin, on a site open to superusers only (accounts/admin_site.py).
    "accounts.admin_config.SuperuserAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "patients",
    "titration",
    "medications",
    "accounts",
    "oauth2_provider",
    "fhir_api",
    "importer",
]

MIDDLEWARE = [
    # First, so that every log line of the request, the error log included, carries its id.
    "ldn_tracker.middleware.RequestIdMiddleware",
    # Outside everything that can refuse a request (CSRF, sign-in, views), to log every 403 and 404.
    "accounts.middleware.RefusedRequestLogMiddleware",
    # Outside everything that can refuse a request, so that every answer carries X-Frame-Options, the
    # 400 for a bad Host header too (CommonMiddleware and SecurityMiddleware raise it).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Django's SessionMiddleware, updating a database session in one statement (accounts/sessions.py).
    "accounts.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # django-otp's OTPMiddleware, checking the session's device against the principal (no query of its own).
    "accounts.middleware.OTPMiddleware",
    # Django's LoginRequiredMiddleware, keeping search terms out of the sign-in page's "next".
    "accounts.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the messages, which tell the user why they were signed out.
    "accounts.middleware.SessionLimitsMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "ldn_tracker.middleware.NoStoreForSignedInMiddleware",
    # Turns a sign-in refused by the account-wide lock into the lockout page, as axes does for its own.
    "accounts.middleware.AccountLockMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ldn_tracker.urls"
WSGI_APPLICATION = "ldn_tracker.wsgi.application"

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
                "patients.context_processors.clinician",
            ],
            "builtins": ["titration.templatetags.doses"],
        },
    },
]

# SQLite by default so a newcomer runs the app with one command; PostgreSQL via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Every write happens in one transaction with its audit (history) records.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite for several clinicians at once: readers never wait for the writer (WAL); a transaction takes the
    # write lock when it begins (IMMEDIATE), so two saves queue instead of failing with "database is locked"
    # when both try to upgrade a read lock; a writer waits up to 20 s for its turn; NORMAL sync is safe with WAL
    # and saves an fsync per commit.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes goes first: it refuses a locked-out sign-in before any password is checked. Then the
# account-wide limit (accounts/account_lock.py), which does the same for a username from any address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.AccountLockBackend",
    # Django's ModelBackend, whose session user comes with its roles, permissions, clinics and two-factor
    # state in one query (accounts/principal.py).
    "accounts.backends.PrincipalBackend",
]
# Passwords are hashed with Django's default, PBKDF2-SHA256 (PASSWORD_HASHERS left as shipped).

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Search pages, by URL name: their query string (a patient's name or MRN) is left out of the "next" of
# the sign-in and two-factor pages, which would put it in proxy logs and browser history.
LOGIN_NEXT_WITHOUT_QUERY = ["patients:list"]

# Sign-in throttling (django-axes): five failures for one username from one address lock that
# pair out for 15 minutes. The lockout page says the same whether or not the username exists.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout"
AXES_RESET_ON_SUCCESS = True
# The "next" of a sign-in may hold a patient search (?q=name): never stored with the attempt. Nor are
# the passwords of a password change, whose wrong old password counts as a failed sign-in.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "next", "old_password", "new_password1", "new_password2"]

# Two-factor sign-in (django-otp): the name authenticator apps show next to the account.
OTP_TOTP_ISSUER = "LDN Titration Tracker"

# Sessions end after 30 minutes without a request (the server-side expiry moves on with the
# user's requests: accounts.middleware.SessionLimitsMiddleware), 12 hours after sign-in in any
# case, and when the browser closes.
SESSION_COOKIE_AGE = 30 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_ABSOLUTE_MAX_AGE = 12 * 60 * 60
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en-gb")
TIME_ZONE = env_str("TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end packages come from npm (package-lock.json) and are served by the app itself: no CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

SIMPLE_HISTORY_REVERT_DISABLED = True

# The FHIR R4 API (fhir_api/, docs/fhir.md): OAuth 2.0 client credentials as SMART backend services use them.
# Clients are registered by an administrator, each bound to one clinic, with the scopes it may ask for
# (fhir_api.scopes). Access tokens live 5 minutes, as SMART backend services recommend; there are no refresh
# tokens for this grant, and the token endpoint answers clients only, never a signed-in browser.
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": 300,
    "SCOPES_BACKEND_CLASS": "fhir_api.scopes.FhirClientScopes",
    "OAUTH2_VALIDATOR_CLASS": "fhir_api.oauth.FhirOAuth2Validator",
    "ERROR_RESPONSE_WITH_SCOPES": True,
    # OAuth 2.0 Security Best Current Practice (RFC 9700) in full: only a checksum of each token is stored,
    # tokens are accepted in the Authorization header only, and the grants and redirect URIs that it
    # deprecates are refused (this API uses none of them).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# django-oauth-toolkit's own application model, named so that migrations can depend on it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
# The identifier system of each clinic's MRNs in FHIR; "{clinic_id}" is replaced by the clinic's id.
FHIR_MRN_SYSTEM = env_str("FHIR_MRN_SYSTEM", "urn:ldn-tracker:clinic:{clinic_id}:mrn")
if "{clinic_id}" not in FHIR_MRN_SYSTEM:
    raise ImproperlyConfigured("FHIR_MRN_SYSTEM must contain {clinic_id}: each clinic numbers its own patients.")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "accounts.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): scripts and styles only from our own static files. Chart
# data travels in json_script blocks, which are data, not script; no template has inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The __Host- prefix makes browsers refuse these cookies unless secure, host-only and path=/.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Behind a reverse proxy that terminates TLS, the app learns that the request came over HTTPS from the
# proxy's X-Forwarded-Proto header. Any client can send that header, so it is trusted only when the
# deployment says so, and only behind a proxy that sets it on every request (overwriting a client's).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Every line carries the id of its request (also sent as the X-Request-ID response header).
# Security events (failed sign-ins, lockouts, refusals) go to the "ldn_tracker.security" logger.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ldn_tracker.middleware.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s request_id=%(request_id)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "loggers": {
        "ldn_tracker.security": {"level": "INFO"},
        # django-axes narrates every sign-in at INFO; its warnings (failures, lockouts) are enough.
        "axes": {"level": "WARNING"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
