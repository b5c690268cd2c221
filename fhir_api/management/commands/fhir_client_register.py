"""Register an EHR as a FHIR client from the shell, as the admin does.

python manage.py fhir_client_register "NAME" --clinic "CLINIC NAME" [--scope system/Patient.read ...]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fhir_api.scopes import ALL_READ, SCOPES
from fhir_api.services import ClientRegistrationError, fhir_client_register
from patients.models import Clinic


class Command(BaseCommand):
    help = "Register a FHIR client (OAuth 2.0 client credentials) for one clinic; prints its id and secret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The system's name, shown in the access log.")
        parser.add_argument("--clinic", required=True, help="The clinic whose records it may read (its name).")
        parser.add_argument(
            "--scope", action="append", choices=list(SCOPES), help=f"A scope it may be granted (default {ALL_READ})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(name=options["clinic"].strip()).first()
        if clinic is None:
            raise CommandError(f"No clinic is named {options['clinic']!r}.")
        try:
            client, secret = fhir_client_register(
                name=options["name"].strip(), clinic=clinic, scopes=options["scope"] or [ALL_READ], by=None
            )
        except ClientRegistrationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"client_id={client.application.client_id}")
        self.stdout.write(f"client_secret={secret}")
        self.stderr.write("The secret is shown only now: only its hash is kept.")
