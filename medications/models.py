"""A patient's medication list, the opioid reference list it is checked against, and the safety profile.

Clinical records here are never hard-deleted: a medication that stops is ended with its date and reason, a
wrong entry is voided with a reason, and every change is kept by django-simple-history with who and why.
Source: the clinical reference, "Medications and contraindications".
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from patients.models import ClinicScopedQuerySet, Patient

from . import rules


class OpioidIngredient(models.Model):
    """An opioid ingredient with its WHO ATC code, whether it contraindicates LDN and why, and the source.

    Shipped by a data migration; administrators may add more in the admin. Loperamide is on the list as a
    peripheral opioid that is not a contraindication, so that it is recognised and shown as such.
    """

    name = models.CharField(max_length=100, help_text="The ingredient (INN), lower case: “tramadol”.")
    atc_code = models.CharField("WHO ATC code", max_length=10)
    is_contraindication = models.BooleanField(
        "contraindicates LDN", default=True, help_text="Untick only for an opioid that does not act centrally."
    )
    reason = models.TextField(help_text="Why it is (or is not) a contraindication to LDN, in one sentence.")
    source = models.TextField(help_text="Where the ATC code and the reason come from.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="opioid_ingredient_unique_name"),
            models.CheckConstraint(condition=~Q(name=""), name="opioid_ingredient_name_set"),
            models.CheckConstraint(condition=~Q(atc_code=""), name="opioid_ingredient_atc_code_set"),
            models.CheckConstraint(condition=~Q(reason=""), name="opioid_ingredient_reason_set"),
            models.CheckConstraint(condition=~Q(source=""), name="opioid_ingredient_source_set"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.atc_code})"


class OpioidAlias(models.Model):
    """Another name an ingredient is recorded under: a brand, a combination product or a synonym."""

    class Kind(models.TextChoices):
        BRAND = "brand", "Brand name"
        COMBINATION = "combination", "Combination product"
        SYNONYM = "synonym", "Other name"

    ingredient = models.ForeignKey(OpioidIngredient, on_delete=models.PROTECT, related_name="aliases")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.BRAND)
    atc_code = models.CharField(
        "WHO ATC code", max_length=10, blank=True, help_text="For a combination product, its own code if it has one."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "opioid aliases"
        constraints = [
            models.UniqueConstraint(Lower("name"), name="opioid_alias_unique_name"),
            models.CheckConstraint(condition=~Q(name=""), name="opioid_alias_name_set"),
            models.CheckConstraint(condition=Q(kind__in=["brand", "combination", "synonym"]), name="opioid_alias_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.ingredient.name}"


class MedicationEntryQuerySet(ClinicScopedQuerySet["MedicationEntry"]):
    patient_field = "patient"

    def live(self) -> MedicationEntryQuerySet:
        """Entries that have not been voided."""
        return self.filter(voided_at__isnull=True)

    def current_on(self, day: datetime.date) -> MedicationEntryQuerySet:
        """Live entries started on or before ``day`` and not stopped by then (see ``rules.is_current``)."""
        return self.live().filter(Q(stop_date__isnull=True) | Q(stop_date__gt=day), start_date__lte=day)


class MedicationEntry(models.Model):
    """A medication the patient takes or took (MedicationStatement): ended or voided, never deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medications")
    name = models.CharField(max_length=200, help_text="As chosen from the opioid list or typed.")
    reference = models.ForeignKey(
        OpioidIngredient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The opioid ingredient chosen from the list, if it was chosen rather than typed.",
    )
    active_ingredient = models.CharField(max_length=200, blank=True)
    dose = models.CharField(max_length=100, blank=True)
    route = models.CharField(max_length=100, blank=True)
    start_date = models.DateField()
    stop_date = models.DateField(null=True, blank=True, help_text="The first day without it.")
    stop_reason = models.TextField(blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    void_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    objects = MedicationEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "-pk"]
        verbose_name_plural = "medication entries"
        permissions = [
            ("end_medicationentry", "Can end a medication entry"),
            ("void_medicationentry", "Can void a medication entry"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="medication_name_set"),
            models.CheckConstraint(
                condition=Q(stop_date__isnull=True) | Q(stop_date__gte=F("start_date")),
                name="medication_stop_not_before_start",
            ),
            models.CheckConstraint(
                condition=Q(stop_date__isnull=True) | ~Q(stop_reason=""), name="medication_stop_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(stop_date__isnull=False) | Q(stop_reason=""), name="medication_reason_only_when_stopped"
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""), name="medication_void_has_reason"
            ),
        ]
        indexes = [models.Index(fields=["patient", "stop_date"], name="medication_patient_stop_idx")]

    def __str__(self) -> str:
        return f"{self.name} from {self.start_date:%Y-%m-%d}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None

    @property
    def is_ended(self) -> bool:
        return self.stop_date is not None

    def is_current_on(self, day: datetime.date) -> bool:
        return rules.is_current(start_date=self.start_date, stop_date=self.stop_date, voided=self.is_voided, on=day)


class SafetyProfileQuerySet(ClinicScopedQuerySet["SafetyProfile"]):
    patient_field = "patient"


class HepaticImpairment(models.TextChoices):
    NONE = "none", "None"
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class SafetyProfile(models.Model):
    """What a prescriber must weigh before setting or changing LDN: warnings, never silent blocks."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="safety_profile")
    pregnant = models.BooleanField(default=False)
    breastfeeding = models.BooleanField(default=False)
    hepatic_impairment = models.CharField(
        max_length=10, choices=HepaticImpairment.choices, default=HepaticImpairment.NONE
    )
    naltrexone_hypersensitivity = models.BooleanField("known naltrexone hypersensitivity", default=False)
    notes = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = SafetyProfileQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(hepatic_impairment__in=HepaticImpairment.values), name="safety_hepatic_impairment_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Safety profile of {self.patient}"

    @property
    def values(self) -> rules.SafetyValues:
        return rules.SafetyValues(
            pregnant=self.pregnant,
            breastfeeding=self.breastfeeding,
            hepatic_impairment=self.hepatic_impairment,
            naltrexone_hypersensitivity=self.naltrexone_hypersensitivity,
        )
