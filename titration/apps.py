from django.apps import AppConfig


class TitrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "titration"

    def ready(self) -> None:
        # A change of a medication list re-derives the contraindication flags, and a change of a clinic's
        # restart gap its patients' courses and flags, in the same transaction. Those apps may not import this
        # one (this one builds on them), so they call what is registered.
        from medications.services import medications_changed_listen
        from patients.services import restart_gap_changed_listen

        from . import outcome_store
        from .services import clinic_courses_reconcile, contraindications_reconcile

        medications_changed_listen(contraindications_reconcile)
        restart_gap_changed_listen(clinic_courses_reconcile)
        restart_gap_changed_listen(outcome_store.clinic_changed)
