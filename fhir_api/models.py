"""An EHR's OAuth 2.0 client, bound to the one clinic whose records it may read through the FHIR API."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from patients.models import Clinic


class FhirClient(models.Model):
    """A system (an EHR, a registry) that reads one clinic's records with OAuth 2.0 client credentials.

    An administrator registers it (``services.fhir_client_register``); it is never deleted, only deactivated.
    Its reads go into the access log under ``account``, an account of its own that cannot sign in, so that
    "who looked at this record?" names the client.
    """

    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.PROTECT, related_name="fhir_client"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="fhir_clients")
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="fhir_client",
        help_text="The account its reads are logged under; it cannot sign in.",
    )
    scopes = models.TextField(help_text="The SMART scopes it may be granted, separated by spaces.")
    is_active = models.BooleanField(
        "active", default=True, help_text="Untick to refuse its tokens at once and issue it no new ones."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["application__name"]
        verbose_name = "FHIR client"
        constraints = [models.CheckConstraint(condition=~Q(scopes=""), name="fhir_client_has_scopes")]

    def __str__(self) -> str:
        return f"{self.name} ({self.clinic})"

    @property
    def name(self) -> str:
        return self.application.name

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
