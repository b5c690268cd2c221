from django.apps import AppConfig


class TitrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "titration"

    def ready(self) -> None:
        # A change of a medication list re-derives the contraindication flags, in the same transaction. The
        # medications app may not import this one (this one builds on it), so it calls what is registered.
        from medications.services import medications_changed_listen

        from .services import contraindications_reconcile

        medications_changed_listen(contraindications_reconcile)
