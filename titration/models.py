"""Titration plans, the daily dose log and the flags it raises.

Clinical records here are never hard-deleted: a wrong dose entry is voided with a reason and
stays visible; a replaced plan is ended and kept.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Self, TypedDict, TypeVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from patients.models import ClinicScopedQuerySet, Patient

from . import outcomes, rules


class DecimalSize(TypedDict):
    max_digits: int
    decimal_places: int


DOSE_FIELD: DecimalSize = {"max_digits": 5, "decimal_places": 2}
_DOSE_IN_HARD_LIMITS = {"gt": Decimal("0"), "lte": rules.HARD_MAX_MG}


def _dose_between_hard_limits(field: str) -> Q:
    return Q(**{f"{field}__{lookup}": value for lookup, value in _DOSE_IN_HARD_LIMITS.items()})


class Formulation(models.TextChoices):
    CAPSULE = "capsule", "Compounded capsule"
    LIQUID = "liquid", "Oral liquid"
    SUBLINGUAL = "sublingual", "Sublingual drops"
    OTHER = "other", "Other"


class DosingTime(models.TextChoices):
    # ISMP: write "bedtime", never HS or qhs.
    BEDTIME = "bedtime", "Bedtime"
    MORNING = "morning", "Morning"
    OTHER = "other", "Other time"


class PlanQuerySet(ClinicScopedQuerySet["TitrationPlan"]):
    patient_field = "patient"


class PlanStateChangeQuerySet(ClinicScopedQuerySet["PlanStateChange"]):
    patient_field = "patient"


class TitrationPlan(models.Model):
    """A prescriber's plan: start low, step up every N days to a maintenance dose (MedicationRequest)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="plans")
    preset = models.CharField(max_length=40, blank=True)
    start_date = models.DateField()
    starting_dose_mg = models.DecimalField("starting dose (mg)", **DOSE_FIELD)
    step_mg = models.DecimalField("step (mg)", **DOSE_FIELD)
    step_interval_days = models.PositiveSmallIntegerField("days between steps")
    target_dose_mg = models.DecimalField("target dose (mg)", **DOSE_FIELD)
    formulation = models.CharField(max_length=20, choices=Formulation.choices, default=Formulation.CAPSULE)
    liquid_concentration_mg_per_ml = models.DecimalField("concentration (mg/mL)", null=True, blank=True, **DOSE_FIELD)
    dosing_time = models.CharField(max_length=20, choices=DosingTime.choices, default=DosingTime.BEDTIME)
    notes = models.TextField(blank=True)
    step_override_reason = models.TextField(
        blank=True, default="", db_default="", help_text="Why a step above 1.5 mg was confirmed."
    )
    safety_override_reason = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="Why the plan was set although an opioid was current or a hypersensitivity is known.",
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    objects = PlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(is_active=True), name="plan_one_active_per_patient"
            ),
            models.CheckConstraint(
                condition=_dose_between_hard_limits("starting_dose_mg"), name="plan_starting_dose_in_hard_limits"
            ),
            models.CheckConstraint(
                condition=_dose_between_hard_limits("target_dose_mg"), name="plan_target_dose_in_hard_limits"
            ),
            models.CheckConstraint(
                condition=Q(step_mg__gte=0, step_mg__lte=rules.HARD_MAX_MG), name="plan_step_not_negative"
            ),
            models.CheckConstraint(condition=Q(step_interval_days__gte=1), name="plan_interval_at_least_one_day"),
            models.CheckConstraint(
                condition=Q(liquid_concentration_mg_per_ml__isnull=True)
                | Q(
                    liquid_concentration_mg_per_ml__gte=rules.CONCENTRATION_MIN_MG_PER_ML,
                    liquid_concentration_mg_per_ml__lte=rules.CONCENTRATION_MAX_MG_PER_ML,
                ),
                name="plan_concentration_0_1_to_10",
            ),
            models.CheckConstraint(
                condition=~Q(formulation=Formulation.LIQUID) | Q(liquid_concentration_mg_per_ml__gt=0),
                name="plan_liquid_has_concentration",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{rules.format_dose(self.starting_dose_mg)} + {rules.format_dose(self.step_mg)} "
            f"every {self.step_interval_days} days to {rules.format_dose(self.target_dose_mg)}"
        )

    @property
    def schedule(self) -> rules.Schedule:
        return rules.Schedule(
            start_date=self.start_date,
            starting_dose_mg=self.starting_dose_mg,
            step_mg=self.step_mg,
            step_interval_days=self.step_interval_days,
            target_dose_mg=self.target_dose_mg,
        )

    def scheduled_dose_on(self, day: datetime.date) -> Decimal | None:
        """The plan's calendar dose (as written); pages show the patient-paced expected dose instead."""
        return rules.scheduled_dose(self.schedule, day)


class StopReason(models.TextChoices):
    """Why LDN was stopped, coded so a clinic can count the reasons (the outcomes page, the research export)."""

    SIDE_EFFECTS = "side_effects", "Side effects"
    NO_BENEFIT = "no_benefit", "No benefit"
    PATIENT_CHOICE = "patient_choice", "Patient choice"
    COST = "cost", "Cost"
    CONTRAINDICATION = "contraindication", "Contraindication"
    OTHER = "other", "Other"


class PlanStateChange(models.Model):
    """A prescriber's decision to titrate, hold, pause or stop, from a day on, with the reason (audited).

    Stopping also records a coded reason (``stop_reason``); every other state has none.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="plan_states")
    plan = models.ForeignKey(TitrationPlan, on_delete=models.PROTECT, related_name="state_changes")
    state = models.CharField(max_length=20, choices=[(s.value, s.label) for s in rules.PlanState])
    effective_on = models.DateField()
    reason = models.TextField()
    stop_reason = models.CharField(
        "reason for stopping", max_length=20, choices=StopReason.choices, blank=True, default="", db_default=""
    )
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = PlanStateChangeQuerySet.as_manager()

    class Meta:
        ordering = ["effective_on", "changed_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="plan_state_has_reason"),
            models.CheckConstraint(condition=Q(state__in=[s.value for s in rules.PlanState]), name="plan_state_known"),
            models.CheckConstraint(
                condition=Q(state=rules.PlanState.STOPPED, stop_reason__in=StopReason.values)
                | (~Q(state=rules.PlanState.STOPPED) & Q(stop_reason="")),
                name="plan_state_stop_has_coded_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{rules.PlanState(self.state).label} from {self.effective_on}"


_Voidable = TypeVar("_Voidable", bound="VoidableRecord")


class DoseStatus(models.TextChoices):
    TAKEN = "taken", "Taken"
    MISSED = "missed", "Missed"


class VoidableQuerySet(ClinicScopedQuerySet[_Voidable]):
    """Records that are voided, never deleted; scoped to a clinic through their patient."""

    patient_field = "patient"

    def live(self) -> Self:
        """Records that have not been voided."""
        return self.filter(voided_at__isnull=True)


class DoseEntryQuerySet(VoidableQuerySet["DoseEntry"]):
    pass


class CheckInQuerySet(VoidableQuerySet["CheckIn"]):
    pass


class FlagQuerySet(ClinicScopedQuerySet["Flag"]):
    patient_field = "patient"


class FlagCommentQuerySet(ClinicScopedQuerySet["FlagComment"]):
    patient_field = "flag__patient"


class SideEffectQuerySet(ClinicScopedQuerySet["SideEffect"]):
    patient_field = "checkin__patient"


class OutcomeFiguresQuerySet(ClinicScopedQuerySet["OutcomeFigures"]):
    patient_field = "patient"


class VoidableRecord(models.Model):
    """A clinical record that is never deleted: a wrong one is voided with who, when and why."""

    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    void_reason = models.TextField(blank=True)

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class DoseEntry(VoidableRecord):
    """One day's dose of one patient (MedicationAdministration; a missed dose is ``not-done``)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dose_entries")
    taken_on = models.DateField("date taken")
    dose_mg = models.DecimalField("dose (mg)", null=True, blank=True, **DOSE_FIELD)
    # A liquid dose as measured: the volume and the concentration it was converted at (dose_mg = mL times
    # mg/mL, rounded to 2 decimals); both empty for a dose entered in mg.
    dose_ml = models.DecimalField("volume (mL)", null=True, blank=True, **DOSE_FIELD)
    concentration_mg_per_ml = models.DecimalField("concentration (mg/mL)", null=True, blank=True, **DOSE_FIELD)
    formulation = models.CharField(max_length=20, choices=Formulation.choices, default=Formulation.CAPSULE)
    time_of_day = models.CharField(
        "time taken", max_length=20, choices=DosingTime.choices, default=DosingTime.BEDTIME, db_default="bedtime"
    )
    status = models.CharField(max_length=10, choices=DoseStatus.choices, default=DoseStatus.TAKEN)
    notes = models.TextField(blank=True)
    plan = models.ForeignKey(
        TitrationPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="dose_entries"
    )
    scheduled_dose_mg = models.DecimalField(null=True, blank=True, **DOSE_FIELD)
    override_reason = models.TextField(blank=True, help_text="Why a dose outside 0.5–4.5 mg was confirmed.")
    # Derived by re-assessment, in the same transaction as every change of the record, like the flags: the
    # patient-paced expected dose of the day (``scheduled_dose_mg``) and where the patient stood on the plan
    # after this entry (``course.Position``), from which the dashboard resumes each patient's course. Not
    # audited: they are recomputed from the audited record, never entered.
    course_after = models.JSONField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["course_after"])

    objects = DoseEntryQuerySet.as_manager()

    class Meta(VoidableRecord.Meta):
        ordering = ["-taken_on", "-recorded_at"]
        verbose_name_plural = "dose entries"
        permissions = [("void_doseentry", "Can void a dose entry")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "taken_on"],
                condition=Q(voided_at__isnull=True),
                name="dose_one_live_entry_per_day",
            ),
            models.CheckConstraint(
                condition=Q(dose_mg__isnull=True) | _dose_between_hard_limits("dose_mg"),
                name="dose_in_hard_limits",
            ),
            models.CheckConstraint(
                condition=~Q(status=DoseStatus.TAKEN) | Q(dose_mg__isnull=False),
                name="dose_taken_has_amount",
            ),
            # A missed dose carries no dose: it is never counted as taken anywhere.
            models.CheckConstraint(
                condition=Q(status=DoseStatus.TAKEN) | Q(dose_mg__isnull=True),
                name="dose_missed_has_no_amount",
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""), name="dose_void_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(dose_ml__isnull=True, concentration_mg_per_ml__isnull=True)
                | Q(dose_ml__isnull=False, concentration_mg_per_ml__isnull=False, dose_mg__isnull=False),
                name="dose_volume_with_concentration",
            ),
            models.CheckConstraint(
                condition=Q(dose_ml__isnull=True) | Q(dose_ml__gt=0, dose_ml__lte=rules.LIQUID_MAX_ML),
                name="dose_volume_0_to_20_ml",
            ),
            models.CheckConstraint(
                condition=Q(concentration_mg_per_ml__isnull=True)
                | Q(
                    concentration_mg_per_ml__gte=rules.CONCENTRATION_MIN_MG_PER_ML,
                    concentration_mg_per_ml__lte=rules.CONCENTRATION_MAX_MG_PER_ML,
                ),
                name="dose_concentration_0_1_to_10",
            ),
            models.CheckConstraint(condition=Q(time_of_day__in=DosingTime.values), name="dose_time_of_day_known"),
        ]
        indexes = [
            models.Index(fields=["patient", "-taken_on"], name="dose_patient_day_idx"),
            # The newest entry of a patient, which says whether its outcome figures are out of date.
            models.Index(fields=["patient", "id"], name="dose_patient_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.taken_on}: {self.dose_display} ({self.get_status_display()})"

    @property
    def dose_display(self) -> str:
        """ "1.5 mg", or for a liquid measured in mL "1.5 mg (3 mL of 0.5 mg/mL)"."""
        return rules.format_entry_dose(self.dose_mg, self.dose_ml, self.concentration_mg_per_ml)


class Flag(models.Model):
    """Something a clinician should look at (FHIR DetectedIssue), until it is closed.

    Dose flags are derived from the record: when the record changes they are re-assessed, and a flag the
    record no longer supports is closed with who, when and why (``closed_as``), never deleted.
    """

    # One set of kinds and severities: the rules' own enums.
    Kind = rules.FlagKind
    Severity = rules.Severity

    class ClosedAs(models.TextChoices):
        OPEN = "", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ENTRY_VOIDED = "entry_voided", "Entry voided"
        REASSESSED = "reassessed", "Re-assessed"
        OPIOID_ENDED = "opioid_ended", "Opioid ended"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="flags")
    dose_entry = models.ForeignKey(DoseEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="flags")
    checkin = models.ForeignKey("CheckIn", on_delete=models.PROTECT, null=True, blank=True, related_name="flags")
    # A contraindication flag is about a medication (the first current entry of the opioid), not a dose.
    medication = models.ForeignKey(
        "medications.MedicationEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=30, choices=[(k.value, k.label) for k in rules.FlagKind])
    severity = models.PositiveSmallIntegerField(choices=[(s.value, s.label) for s in rules.Severity])
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledgement_note = models.TextField(blank=True)
    closed_as = models.CharField(max_length=20, choices=ClosedAs.choices, blank=True, default="", db_default="")
    history = HistoricalRecords()

    objects = FlagQuerySet.as_manager()

    class Meta:
        ordering = ["-severity", "created_at", "pk"]
        permissions = [
            ("acknowledge_flag", "Can acknowledge an info or warning flag"),
            ("acknowledge_critical_flag", "Can acknowledge a critical flag"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=[s.value for s in rules.Severity]), name="flag_known_severity"
            ),
            models.CheckConstraint(condition=Q(kind__in=[k.value for k in rules.FlagKind]), name="flag_known_kind"),
            models.CheckConstraint(
                condition=Q(kind=rules.FlagKind.CONTRAINDICATION, medication__isnull=False)
                | (~Q(kind=rules.FlagKind.CONTRAINDICATION) & Q(medication__isnull=True)),
                name="flag_contraindication_names_medication",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, closed_as="")
                | (Q(acknowledged_at__isnull=False) & ~Q(closed_as="")),
                name="flag_closed_has_how",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-severity", "created_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="flag_open_queue_idx",
            ),
            # A patient's open flags, most severe first (the patient page), and a clinic's open flags
            # reached through its patients (dashboard, queue) without reading every clinic's open flags.
            models.Index(
                fields=["patient", "-severity", "created_at"],
                condition=Q(acknowledged_at__isnull=True),
                name="flag_open_patient_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.message}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    @property
    def severity_name(self) -> str:
        return rules.Severity(self.severity).name.lower()

    @property
    def is_critical(self) -> bool:
        return self.severity == rules.Severity.CRITICAL


class FlagComment(models.Model):
    """A note on a flag by anyone who may see it; it does not close the flag."""

    flag = models.ForeignKey(Flag, on_delete=models.PROTECT, related_name="comments")
    text = models.TextField()
    written_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    written_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = FlagCommentQuerySet.as_manager()

    class Meta:
        ordering = ["written_at", "pk"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="flag_comment_not_empty")]

    def __str__(self) -> str:
        return self.text


class CheckIn(VoidableRecord):
    """An outcome record: pain on the 0–10 NRS (LOINC 72514-3), sleep, side effects (FHIR Observation)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="checkins")
    checked_on = models.DateField("date of check-in")
    pain_score = models.PositiveSmallIntegerField("pain (0–10)")
    sleep_quality = models.PositiveSmallIntegerField("sleep quality (0–10)", null=True, blank=True)
    # Patient Global Impression of Change (clinical reference, "Outcome measures"): optional, 1–7.
    pgic = models.PositiveSmallIntegerField(
        "PGIC (impression of change)", null=True, blank=True, choices=sorted(outcomes.PGIC_LABELS.items())
    )
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    objects = CheckInQuerySet.as_manager()

    class Meta(VoidableRecord.Meta):
        ordering = ["-checked_on", "-recorded_at"]
        permissions = [("void_checkin", "Can void a check-in")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "checked_on"],
                condition=Q(voided_at__isnull=True),
                name="checkin_one_live_per_day",
            ),
            models.CheckConstraint(condition=Q(pain_score__lte=10), name="checkin_pain_0_to_10"),
            models.CheckConstraint(
                condition=Q(sleep_quality__isnull=True) | Q(sleep_quality__lte=10), name="checkin_sleep_0_to_10"
            ),
            models.CheckConstraint(
                condition=Q(pgic__isnull=True) | Q(pgic__gte=1, pgic__lte=7), name="checkin_pgic_1_to_7"
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True) | ~Q(void_reason=""), name="checkin_void_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-checked_on"], name="checkin_patient_day_idx"),
            models.Index(fields=["patient", "id"], name="checkin_patient_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.checked_on}: pain {self.pain_score}/10"


class SideEffect(models.Model):
    """A side effect reported at a check-in (clinical reference, "Side effects")."""

    class Kind(models.TextChoices):
        VIVID_DREAMS = "vivid_dreams", "Vivid dreams"
        INSOMNIA = "insomnia", "Insomnia"
        NAUSEA = "nausea", "Nausea / GI discomfort"
        HEADACHE = "headache", "Headache"
        ANXIETY = "anxiety", "Anxiety or irritability"
        FATIGUE = "fatigue", "Fatigue"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    checkin = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="side_effects")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    objects = SideEffectQuerySet.as_manager()

    class Meta:
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(fields=["checkin", "kind"], name="side_effect_once_per_checkin"),
            models.CheckConstraint(condition=~Q(kind="other") | ~Q(description=""), name="side_effect_other_described"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_severity_display().lower()})"

    @property
    def label(self) -> str:
        return self.description if self.kind == self.Kind.OTHER else str(self.get_kind_display())


class OutcomeFigures(models.Model):
    """A cache of one patient's outcome figures for /outcomes/: derived from the record, never entered.

    Reducing every dose of a clinic at each page view reads millions of rows; this row keeps what that
    reduction gives for one patient (``figures``, the columns of ``outcome_aggregates``' dose and check-in
    queries) and is rebuilt when it no longer matches the record. A new dose or check-in shows by its id,
    above ``doses_through`` / ``checkins_through`` (a patient's writes are serialised, so ids grow in commit
    order); every other change (a void, a plan, a state, the clinic's restart gap) sets ``stale`` in the
    writer's transaction. See ``titration.outcome_store``.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="+")
    stale = models.BooleanField(default=True)
    doses_through = models.BigIntegerField(default=0)
    checkins_through = models.BigIntegerField(default=0)
    figures = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    computed_at = models.DateTimeField(null=True)

    objects = OutcomeFiguresQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "outcome figures"

    def __str__(self) -> str:
        return f"Outcome figures of patient {self.patient_id}"
