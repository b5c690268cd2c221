"""Create or update a clinician account without the admin.

python manage.py create_clinician USERNAME --role prescriber|staff --clinic "CLINIC NAME" [--password-stdin]
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from patients.models import Clinic, Membership
from patients.roles import GROUP_NAMES, Role


class Command(BaseCommand):
    help = "Create a clinician (or update an existing one's role and clinic membership)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--clinic", required=True, help="Clinic name; created if it does not exist.")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from one line of stdin.")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        if not username:
            raise CommandError("The username cannot be blank.")
        role = Role(options["role"])
        clinic_name: str = options["clinic"].strip()
        if not clinic_name:
            raise CommandError("The clinic name cannot be blank.")

        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        password = self._read_password(options["password_stdin"], required=user is None)
        if password is not None:
            probe = user or user_model(username=username)
            try:
                password_validation.validate_password(password, probe)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from exc

        with transaction.atomic():
            created = user is None
            if user is None:
                user = user_model(username=username)
            if options["first_name"]:
                user.first_name = options["first_name"]
            if options["last_name"]:
                user.last_name = options["last_name"]
            user.is_active = True
            if password is not None:
                user.set_password(password)
            user.save()
            clinic, clinic_created = Clinic.objects.get_or_create(name=clinic_name)
            Membership.objects.get_or_create(user=user, clinic=clinic)
            # One role per user: switching role removes the other group.
            user.groups.remove(*Group.objects.filter(name__in=GROUP_NAMES.values()))
            user.groups.add(Group.objects.get(name=role.group_name))

        action = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{action} {username} ({role.group_name}) in clinic {clinic.name}"
                + (" (new clinic)." if clinic_created else ".")
            )
        )

    def _read_password(self, from_stdin: bool, *, required: bool) -> str | None:
        if from_stdin:
            line = sys.stdin.readline().rstrip("\r\n")
            if not line:
                raise CommandError("No password on standard input.")
            return line
        if not required:
            return None
        if not sys.stdin.isatty():
            raise CommandError("No terminal to prompt for a password: use --password-stdin.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first
