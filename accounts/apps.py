from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Sign-in and security"

    def ready(self) -> None:
        # Connect the sign-in receivers: the security log, and the stamp for the session time limit.
        from . import security_log, session_limits  # noqa: F401
