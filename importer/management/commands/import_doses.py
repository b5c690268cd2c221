"""Import a spreadsheet of patients, doses and pain scores from the shell: a dry run unless --commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from patients.models import Clinic
from patients.roles import Role

from ...batches import batch_committed, checksum
from ...formats import MAX_BYTES, TOO_BIG, ImportFileError, parse
from ...models import ImportBatch
from ...services import NOT_A_PRESCRIBER, Report, import_run

LISTED = 20


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX of patients and their daily doses and pain scores (the import template, or a "
        "patient's CSV export with --mrn). Without --commit it is a dry run: nothing is saved. A dose that needs "
        "a confirmation is imported only with a reason in the file's override_reason column."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--clinic", required=True, help="The clinic's name.")
        parser.add_argument("--commit", action="store_true", help="Save the import (default: dry run).")
        parser.add_argument(
            "--user", help="The prescriber recorded as importing (default: the clinic's only active prescriber)."
        )
        parser.add_argument("--mrn", default="", help="For a patient's CSV export: the patient's MRN.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        clinic = Clinic.objects.filter(name=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"No clinic is named {options['clinic']!r}.")
        user = self._user(clinic, options["user"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(TOO_BIG)
        data = path.read_bytes()
        try:
            parsed = parse(data, path.name, mrn=options["mrn"])
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        bar = tqdm(total=len(parsed.rows), unit="row", disable=options["no_progress"], desc="Importing")
        try:
            report = import_run(
                clinic=clinic,
                by=user,
                parsed=parsed,
                file_name=path.name,
                commit=options["commit"],
                progress=bar.update,
            )
        except PermissionError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        if options["commit"]:
            batch = ImportBatch(
                clinic=clinic,
                uploaded_by=user,
                file_name=path.name,
                checksum=checksum(data),
                size=len(data),
                data=data,
                patient_mrn=options["mrn"].strip(),
                file_format=parsed.format,
            )
            batch_committed(batch, report)
        self._summary(report, committed=options["commit"])

    def _user(self, clinic: Clinic, username: str | None) -> Any:
        prescribers = get_user_model().objects.filter(
            is_active=True, groups__name=Role.PRESCRIBER.group_name, memberships__clinic=clinic
        )
        if username:
            user = prescribers.filter(username=username).first()
            if user is None:
                raise CommandError(f"{username}: {NOT_A_PRESCRIBER}")
            return user
        found = list(prescribers.distinct()[:2])
        if len(found) != 1:
            raise CommandError("The clinic has several prescribers (or none): name the importer with --user.")
        return found[0]

    def _summary(self, report: Report, *, committed: bool) -> None:
        write = self.stdout.write
        verb = "Imported" if committed else "Dry run, nothing saved. Would import"
        write(
            f"{verb}: {report.entries} dose entries and {report.checkins} check-ins for {len(report.patients)} "
            f"patients ({report.patients_created} new) from {report.rows} rows; {report.already} rows already "
            f"recorded, {report.refused_count} refused, {report.confirm_pending} waiting for a reason."
        )
        for item in report.refused[:LISTED]:
            write(f"  row {item['row']} refused: {item['message']}")
        for item in [c for c in report.confirm if not c["will_import"]][:LISTED]:
            write(f"  row {item['row']} needs a reason (override_reason column): {item['message']}")
        if report.flag_counts:
            counts = ", ".join(f"{count} {severity.lower()}" for severity, count in report.flag_counts.items())
            write(f"Flags {'raised' if committed else 'that would be raised'}: {counts}.")
        if not committed:
            write("Run again with --commit to import.")
