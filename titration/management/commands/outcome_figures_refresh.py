"""Rebuild the kept outcome figures that are missing or out of date, clinic by clinic.

/outcomes/ rebuilds them itself when it finds them so; after a deployment that adds them, or an import of a
large history, this does it ahead of the first view (1,000 patients with 5 years each: about 7 s).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from patients.models import Clinic, Patient
from titration import outcome_store


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def handle(self, *args: Any, **options: Any) -> None:
        rebuilt = 0
        for clinic in tqdm(Clinic.objects.order_by("pk"), unit="clinic", disable=options["verbosity"] < 1):
            rebuilt += outcome_store.refresh(Patient.objects.filter(clinic=clinic))
        self.stdout.write(f"Rebuilt the outcome figures of {rebuilt} patients.")
