"""Load demo data: a clinic, a prescriber, a staff member and patients with realistic titrations.

Demo only: refuses to run when DEBUG is off. Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from patients.models import Clinic, Condition, Membership, Patient
from patients.roles import Role
from patients.services import patient_save
from titration import services
from titration.models import DoseStatus, Formulation
from titration.rules import format_dose

DEMO_CLINIC = "Demo Pain Clinic"
DECIMAL_SLIP_MRN = "D-1004"
DEMO_ACCOUNTS = {
    # Demo-only credentials, printed once and listed in the README.
    Role.PRESCRIBER: ("demo.prescriber", "ldn-demo-prescriber", "Dana", "Lee"),
    Role.STAFF: ("demo.staff", "ldn-demo-staff-2026", "Sam", "Okafor"),
}

# (MRN, given, family, born, sex, condition, preset numbers, days on plan)
DEMO_PATIENTS: list[tuple[str, str, str, str, str, str, tuple[str, str, int, str], int]] = [
    ("D-1001", "Maria", "Alvarez", "1978-03-14", "female", "Fibromyalgia", ("0.5", "0.5", 7, "4.5"), 120),
    (
        "D-1002",
        "James",
        "Whitfield",
        "1965-11-02",
        "male",
        "Complex regional pain syndrome type I",
        ("1.5", "1.5", 14, "4.5"),
        75,
    ),
    ("D-1003", "Aisha", "Rahman", "1990-07-21", "female", "Crohn's disease", ("1", "1", 7, "4.5"), 40),
    ("D-1004", "Tom", "Berg", "1958-01-30", "male", "Diabetic polyneuropathy", ("0.5", "0.5", 7, "4.5"), 21),
    ("D-1005", "Helen", "McAllister", "1982-05-09", "female", "Multiple sclerosis", ("1.5", "1.5", 14, "4.5"), 180),
    ("D-1006", "Kenji", "Sato", "1973-09-17", "male", "Ulcerative colitis", ("0.5", "0.5", 7, "3"), 60),
    ("D-1007", "Priya", "Nair", "1986-12-03", "female", "Post-herpetic neuralgia", ("1", "1", 7, "4.5"), 10),
    ("D-1008", "Olu", "Adeyemi", "1969-04-25", "male", "Chronic pain, other", ("0.5", "0.5", 7, "4.5"), 95),
]


class Command(BaseCommand):
    help = "Create demo data (refuses when DEBUG is off). Safe to run twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Only load the demo when the database has no patients at all."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo loads demo accounts with known passwords: it refuses to run when DEBUG=0.")
        if options["if_empty"] and Patient.objects.exists():
            self.stdout.write("The database already has patients; demo data not loaded.")
            return
        if Clinic.objects.filter(name=DEMO_CLINIC, patients__isnull=False).exists():
            self.stdout.write("Demo data is already loaded; nothing changed.")
            return
        with transaction.atomic():
            clinic, _ = Clinic.objects.get_or_create(name=DEMO_CLINIC)
            users = {role: self._account(role, clinic) for role in Role}
            rng = random.Random(2026)  # fixed seed: the same demo every time
            for row in DEMO_PATIENTS:
                self._patient(row, clinic, users[Role.PRESCRIBER], rng)
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded into {DEMO_CLINIC}. Demo-only accounts:"))
        for role, (username, password, *_names) in DEMO_ACCOUNTS.items():
            self.stdout.write(f"  {role.group_name}: {username} / {password}")

    def _account(self, role: Role, clinic: Clinic) -> Any:
        username, password, first, last = DEMO_ACCOUNTS[role]
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        if created:
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=role.group_name))
        Membership.objects.get_or_create(user=user, clinic=clinic)
        return user

    def _patient(self, row: tuple[Any, ...], clinic: Clinic, prescriber: Any, rng: random.Random) -> None:
        mrn, given, family, born, sex, condition_name, numbers, days_on_plan = row
        today = timezone.localdate()
        start = today - datetime.timedelta(days=days_on_plan)
        patient = patient_save(
            patient=Patient(
                clinic=clinic,
                mrn=mrn,
                given_name=given,
                family_name=family,
                date_of_birth=datetime.date.fromisoformat(born),
                sex=sex,
                prescriber=prescriber,
            ),
            diagnoses={
                Condition.objects.get(name=condition_name): start - datetime.timedelta(days=rng.randint(200, 2000))
            },
            by=prescriber,
        )
        starting, step, interval, target = numbers
        plan = services.plan_set(
            patient=patient,
            by=prescriber,
            start_date=start,
            starting_dose_mg=Decimal(starting),
            step_mg=Decimal(step),
            step_interval_days=interval,
            target_dose_mg=Decimal(target),
            formulation=Formulation.CAPSULE,
        )
        # Leave the last day or two unrecorded for some patients, as in a real clinic.
        last_day = today - datetime.timedelta(days=rng.choice([0, 1, 2, 9]))
        day = start
        while day <= last_day:
            roll = rng.random()
            if roll < 0.03:
                pass  # nothing recorded: a gap in the chart
            elif roll < 0.07:
                services.dose_record(
                    patient=patient, by=prescriber, taken_on=day, dose_mg=None, status=DoseStatus.MISSED
                )
            else:
                dose = plan.scheduled_dose_on(day)
                # Some patients hold a step lower for a few days after side effects.
                if dose is not None and roll > 0.97 and dose - plan.step_mg >= Decimal("0.5"):
                    dose -= plan.step_mg
                if mrn == DECIMAL_SLIP_MRN and day == last_day - datetime.timedelta(days=2) and dose is not None:
                    self._decimal_slip(patient, prescriber, day, dose)
                else:
                    services.dose_record(patient=patient, by=prescriber, taken_on=day, dose_mg=dose)
            day += datetime.timedelta(days=1)
        self._checkins(patient, prescriber, start, today, rng)

    def _decimal_slip(self, patient: Patient, by: Any, day: datetime.date, dose: Decimal) -> None:
        """A tenfold slip caught by the flags: confirmed in a hurry, then voided and corrected."""
        slip, _ = services.dose_record(
            patient=patient, by=by, taken_on=day, dose_mg=dose * 10, confirmed=True, override_reason="as on the script"
        )
        services.dose_void(entry=slip, by=by, reason="Decimal slip: the pharmacy label says " + format_dose(dose))
        services.dose_record(patient=patient, by=by, taken_on=day, dose_mg=dose)

    def _checkins(
        self, patient: Patient, by: Any, start: datetime.date, today: datetime.date, rng: random.Random
    ) -> None:
        """A baseline before the first dose, then weekly check-ins; some patients respond, some do not."""
        baseline = rng.randint(6, 8)
        best_relief = rng.choice([0.1, 0.35, 0.55])  # fraction of pain relieved at full effect
        day = start - datetime.timedelta(days=3)
        week = 0
        while day <= today:
            relief = best_relief * min(week / 8, 1)
            pain = max(0, min(10, round(baseline * (1 - relief) + rng.choice([-1, 0, 0, 1]))))
            effects: list[tuple[str, str, str]] = []
            if 1 <= week <= 3 and rng.random() < 0.5:
                effects.append(("vivid_dreams", rng.choice(["mild", "moderate"]), ""))
            if week == 2 and rng.random() < 0.25:
                effects.append(("insomnia", "severe", ""))
            services.checkin_record(
                patient=patient,
                by=by,
                checked_on=day,
                pain_score=pain if week else baseline,
                sleep_quality=rng.randint(4, 8),
                side_effects=effects,
            )
            day += datetime.timedelta(days=7)
            week += 1
