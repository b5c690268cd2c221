"""Clinics, their members, the condition reference table and patients.

This app knows nothing of titration: the titration app builds on it.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any, Self, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from simple_history import register
from simple_history.models import HistoricalRecords

EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)

# A patient who stops LDN for a week or more usually restarts low and re-titrates; the gap is a clinic
# setting (clinical reference, "Restarting and holding").
DEFAULT_RESTART_AFTER_GAP_DAYS = 7
RESTART_GAP_MIN_DAYS = 1
RESTART_GAP_MAX_DAYS = 90

# A bedtime dose logged after midnight belongs to the night before: until the clinic's day boundary the
# clinic's "today" is still yesterday. The boundary is a clinic setting, at most noon.
DEFAULT_DAY_BOUNDARY = datetime.time(4, 0)
LATEST_DAY_BOUNDARY = datetime.time(12, 0)


def default_time_zone() -> str:
    return str(settings.TIME_ZONE)


def clinic_today(clinic: Clinic, now: datetime.datetime | None = None) -> datetime.date:
    """The clinic's day at ``now`` (default: now): the date in the clinic's time zone, less one day before the
    clinic's day boundary (a dose logged at 00:30 with a 04:00 boundary belongs to the day before).

    Every page and check that means "the patient's today" uses this, not ``timezone.localdate()``.
    """
    moment = (now or timezone.now()).astimezone(clinic.zone)
    day = moment.date()
    if moment.time() < clinic.day_boundary:
        day -= datetime.timedelta(days=1)
    return day


_Row = TypeVar("_Row", bound=models.Model)


class ClinicScopedQuerySet(models.QuerySet[_Row]):
    """Rows of a clinical model, with ``visible_to(user)``: only those of the clinics the user belongs to.

    A subclass names how its rows reach a clinic: ``clinic_field`` for a row that belongs to a clinic itself,
    or ``patient_field`` for one that belongs to a patient (it is then scoped as its patients are). The
    clinics come from the request's principal, read once with the user, so scoping adds no query of its own.
    """

    clinic_field: str = ""
    patient_field: str = ""

    def visible_to(self, user: Any) -> Self:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        if self.patient_field:
            return self.filter(**{f"{self.patient_field}__in": Patient.objects.visible_to(user)})
        from accounts.principal import principal_of  # accounts builds on patients, so read it late

        principal = principal_of(user)
        if principal is not None:
            return self.filter(**{f"{self.clinic_field}_id__in": principal.clinic_ids})
        return self.filter(**{f"{self.clinic_field}__memberships__user": user})


class PatientQuerySet(ClinicScopedQuerySet["Patient"]):
    clinic_field = "clinic"


class DiagnosisQuerySet(ClinicScopedQuerySet["Diagnosis"]):
    patient_field = "patient"


class Clinic(models.Model):
    name = models.CharField(max_length=120, unique=True)
    require_two_factor_for_prescribers = models.BooleanField(
        "require two-factor sign-in for prescribers",
        default=False,
        help_text="Prescribers of this clinic must sign in with an authenticator app code.",
    )
    restart_after_gap_days = models.PositiveSmallIntegerField(
        "restart after a gap of (days)",
        default=DEFAULT_RESTART_AFTER_GAP_DAYS,
        help_text=(
            "After this many days without a taken dose, the titration restarts at the plan's starting dose "
            f"({RESTART_GAP_MIN_DAYS} to {RESTART_GAP_MAX_DAYS} days)."
        ),
    )
    phone = models.CharField(max_length=30, blank=True)
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        help_text="The clinic's time zone (IANA name, for example Europe/London): its days begin there.",
    )
    day_boundary = models.TimeField(
        "day begins at",
        default=DEFAULT_DAY_BOUNDARY,
        help_text=(
            "A dose logged between midnight and this time counts for the day before (a bedtime dose taken late); "
            "at most 12:00."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(day_boundary__lte=LATEST_DAY_BOUNDARY), name="clinic_day_boundary_by_noon"
            ),
            models.CheckConstraint(condition=~models.Q(time_zone=""), name="clinic_time_zone_set"),
            models.CheckConstraint(
                condition=models.Q(
                    restart_after_gap_days__gte=RESTART_GAP_MIN_DAYS, restart_after_gap_days__lte=RESTART_GAP_MAX_DAYS
                ),
                name="clinic_restart_gap_1_to_90_days",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(str(settings.TIME_ZONE))

    def today(self, now: datetime.datetime | None = None) -> datetime.date:
        return clinic_today(self, now)


class Membership(models.Model):
    """A user's membership of a clinic: they see that clinic's patients and no others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "clinic"], name="membership_unique_user_clinic")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.clinic}"


class Condition(models.Model):
    """A condition LDN is used for, with its codes (clinical reference, "Codes").

    Seeded by a data migration; administrators may add more in the admin.
    """

    name = models.CharField(max_length=120, unique=True)
    icd10_code = models.CharField("ICD-10-CM", max_length=200, blank=True)
    snomed_code = models.CharField("SNOMED CT", max_length=20, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=32, help_text="Medical record number, unique within the clinic.")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, blank=True)
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="patients_prescribed",
        help_text="The prescriber responsible for this patient.",
    )
    is_active = models.BooleanField("active", default=True)
    notes = models.TextField(blank=True)
    conditions: models.ManyToManyField[Condition, Diagnosis] = models.ManyToManyField(
        Condition, through="Diagnosis", related_name="patients"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "pk"]
        constraints = [
            # "dup-1" and "DUP-1" are the same medical record number.
            models.UniqueConstraint("clinic", Lower("mrn"), name="patient_unique_mrn_ci_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(date_of_birth__gte=EARLIEST_BIRTH_DATE),
                name="patient_born_after_1900",
            ),
            models.CheckConstraint(condition=~models.Q(given_name=""), name="patient_given_name_set"),
            models.CheckConstraint(condition=~models.Q(family_name=""), name="patient_family_name_set"),
        ]
        indexes = [
            models.Index(Lower("family_name"), "clinic", name="patient_family_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name}"

    def get_absolute_url(self) -> str:
        # The patient page composes the titration chart, so the titration app serves it.
        return reverse("titration:patient", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def age_on(self, day: datetime.date) -> int:
        before_birthday = (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day)
        return day.year - self.date_of_birth.year - int(before_birthday)

    @property
    def age(self) -> int:
        return self.age_on(clinic_today(self.clinic))


class Diagnosis(models.Model):
    """A patient's condition and when it was diagnosed."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="diagnoses")
    condition = models.ForeignKey(Condition, on_delete=models.PROTECT, related_name="diagnoses")
    diagnosed_on = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    objects = DiagnosisQuerySet.as_manager()

    class Meta:
        ordering = ["condition__name"]
        verbose_name_plural = "diagnoses"
        constraints = [
            models.UniqueConstraint(fields=["patient", "condition"], name="diagnosis_unique_condition_per_patient")
        ]

    def __str__(self) -> str:
        return f"{self.condition} ({self.diagnosed_on or 'date unknown'})"


class AccessLog(models.Model):
    """Who looked at patient data, and how ("who looked at this record?").

    Most rows are about one patient. A search of the patient list and a view of the flag queue show many
    patients: their rows have no patient, only how many results were shown. A search term is never stored.
    """

    class Action(models.TextChoices):
        VIEW = "view", "Viewed the patient page"
        HISTORY = "history", "Viewed the audit trail"
        EXPORT = "export", "Exported the record (CSV)"
        EDIT_FORM = "edit_form", "Opened the patient edit form"
        DOSE_FORM = "dose_form", "Opened the dose form"
        CHECKIN_FORM = "checkin_form", "Opened the check-in form"
        PATIENT_LIST = "patient_list", "Viewed the patient list"
        SEARCH = "search", "Searched the patients"
        FLAG_QUEUE = "flag_queue", "Viewed the flag queue"
        WORKLIST = "worklist", "Viewed the worklist"
        FHIR_READ = "fhir_read", "Read through the FHIR API"
        FHIR_EXPORT = "fhir_export", "Downloaded the FHIR bundle"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="access_logs", null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    result_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="For a search or a list: how many results were shown."
    )
    at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["patient", "-at"], name="access_patient_time_idx")]

    def __str__(self) -> str:
        return f"{self.user} {self.action} {self.patient_id or '-'} at {self.at:%Y-%m-%d %H:%M}"


# Accounts and their roles (group memberships) are audited too.
register(User, app="patients", m2m_fields=[User.groups.field], excluded_fields=["last_login", "password"])
