from django.apps import AppConfig


class MedicationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "medications"
    verbose_name = "Medications and safety"
