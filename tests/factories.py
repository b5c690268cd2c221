"""Factories for the tests: clinics, users in a role, patients, and a clinic with one of every clinical record.

Clinics, users and patients are plain rows and come from factory_boy. The clinical records (doses, check-ins,
flags, medications) come from the services, as in the app, so that their flags and audit history are real.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import Group, User
from factory.django import DjangoModelFactory

from importer.models import ImportBatch
from medications.models import HepaticImpairment, MedicationEntry, SafetyProfile
from medications.services import medication_record, safety_profile_save
from patients.models import Clinic, Condition, Diagnosis, Membership, Patient
from patients.roles import Role
from titration import services
from titration.models import CheckIn, DoseEntry, Flag, FlagComment, TitrationPlan

PASSWORD = "correct-horse-battery-staple"


class ClinicFactory(DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")


class UserFactory(DjangoModelFactory):
    """A user; ``role`` (a ``Role``) puts them in its group and ``clinic`` makes them a member of it."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs: Any) -> None:
        if create and extracted is not None:
            self.groups.add(Group.objects.get(name=extracted.group_name))

    @factory.post_generation
    def clinic(self, create: bool, extracted: Clinic | None, **kwargs: Any) -> None:
        if create and extracted is not None:
            Membership.objects.create(user=self, clinic=extracted)


class PatientFactory(DjangoModelFactory):
    """A patient of ``clinic`` (a new one by default) with fibromyalgia, under a prescriber of that clinic."""

    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN-{n:04d}")
    given_name = "Ada"
    family_name = "Byron"
    date_of_birth = datetime.date(1980, 6, 1)
    prescriber = factory.SubFactory(UserFactory, role=Role.PRESCRIBER, clinic=factory.SelfAttribute("..clinic"))

    @factory.post_generation
    def condition(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create:
            condition = Condition.objects.get(name=extracted or "Fibromyalgia")
            Diagnosis.objects.create(patient=self, condition=condition, diagnosed_on=datetime.date(2020, 1, 1))


@dataclass(frozen=True)
class ClinicRecords:
    """A clinic with its staff and one patient holding one of every kind of clinical record."""

    clinic: Clinic
    prescriber: User
    staff: User
    patient: Patient
    plan: TitrationPlan
    entry: DoseEntry
    flag: Flag
    comment: FlagComment
    checkin: CheckIn
    medication: MedicationEntry
    safety_profile: SafetyProfile
    batch: ImportBatch

    @property
    def url_ids(self) -> dict[str, Any]:
        """The records' ids under the names the URL patterns give them."""
        return {
            "patient_id": self.patient.pk,
            "clinic_id": self.clinic.pk,
            "entry_id": self.entry.pk,
            "checkin_id": self.checkin.pk,
            "medication_id": self.medication.pk,
            "batch_id": self.batch.pk,
            "flag_id": self.flag.pk,
            "resource_type": "Patient",
            "resource_id": self.patient.pk,
        }


def clinic_with_records(today: datetime.date, name: str = "North Pain Clinic", **patient_fields: Any) -> ClinicRecords:
    """A clinic, a prescriber and a staff member of it, and a patient with a plan (held from today), a dose over
    the plan (and its open flag with a comment), a check-in with a side effect, a medication, a safety profile
    and an import."""
    clinic = ClinicFactory(name=name)
    prescriber = UserFactory(role=Role.PRESCRIBER, clinic=clinic)
    staff = UserFactory(role=Role.STAFF, clinic=clinic)
    patient = PatientFactory(clinic=clinic, prescriber=prescriber, **patient_fields)
    plan = services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=14),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    entry, _ = services.dose_record(
        patient=patient, by=prescriber, taken_on=today, dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )
    flag = entry.flags.first()
    assert flag is not None, "a dose far over the plan raises a flag"
    comment = services.flag_comment_add(flag=flag, by=staff, text="Called the patient.")
    checkin, _ = services.checkin_record(
        patient=patient, by=staff, checked_on=today, pain_score=5, side_effects=[("nausea", "mild", "")]
    )
    services.plan_state_set(patient=patient, by=prescriber, state="holding", reason="Best tolerated dose")
    medication = medication_record(patient=patient, by=staff, name="tramadol 50 mg", start_date=today)
    safety_profile = safety_profile_save(
        patient=patient,
        by=prescriber,
        version=None,
        pregnant=False,
        breastfeeding=False,
        hepatic_impairment=HepaticImpairment.NONE,
        naltrexone_hypersensitivity=False,
    )
    batch = ImportBatch.objects.create(
        clinic=clinic, uploaded_by=prescriber, file_name="doses.csv", checksum="0" * 64, size=0, data=b""
    )
    return ClinicRecords(
        clinic=clinic,
        prescriber=prescriber,
        staff=staff,
        patient=patient,
        plan=plan,
        entry=entry,
        flag=flag,
        comment=comment,
        checkin=checkin,
        medication=medication,
        safety_profile=safety_profile,
        batch=batch,
    )
