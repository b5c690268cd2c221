"""An import of a clinic's spreadsheet: the uploaded file, kept between the preview and the commit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from patients.models import Clinic, ClinicScopedQuerySet


class ImportBatchQuerySet(ClinicScopedQuerySet["ImportBatch"]):
    clinic_field = "clinic"


class ImportBatch(models.Model):
    """One uploaded file: its bytes and checksum (the commit reads these, never re-posted rows), who uploaded
    it, the reasons given in the preview, the last preview, and once committed what it added."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed"
        COMMITTED = "committed", "Imported"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="import_batches")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255)
    checksum = models.CharField("SHA-256", max_length=64)
    size = models.PositiveIntegerField("size (bytes)")
    data = models.BinaryField(editable=False)
    patient_mrn = models.CharField(
        "MRN", max_length=32, blank=True, help_text="The patient of a file of the app's own export."
    )
    file_format = models.CharField(max_length=20, blank=True)
    reasons = models.JSONField(default=dict, blank=True, help_text="Row number → reason given in the preview.")
    preview = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PREVIEWED)
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    patients_created = models.PositiveIntegerField(default=0)
    entries_added = models.PositiveIntegerField(default=0)
    checkins_added = models.PositiveIntegerField(default=0)
    rows_refused = models.PositiveIntegerField(default=0)

    objects = ImportBatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "import batches"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["previewed", "committed"]), name="import_batch_known_status"
            ),
            models.CheckConstraint(
                condition=Q(status="previewed", committed_at__isnull=True)
                | Q(status="committed", committed_at__isnull=False),
                name="import_batch_committed_has_time",
            ),
            models.CheckConstraint(condition=~Q(file_name=""), name="import_batch_has_file_name"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display().lower()})"

    @property
    def is_committed(self) -> bool:
        return self.status == self.Status.COMMITTED
