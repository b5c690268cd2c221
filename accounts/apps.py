from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Sign-in and security"

    def ready(self) -> None:
        # Connect the receivers: the security log, the stamp for the session time limit, the account-wide
        # sign-in limit, and the end of a deactivated user's sessions.
        from . import account_lock, security_log, session_limits, user_sessions  # noqa: F401
