"""Both roles record check-ins, and may void a wrong one with a reason."""

from django.db import migrations

from patients.migration_helpers import grant_permissions

ROLE_PERMISSIONS = {
    "Prescribers": ["view_checkin", "add_checkin", "void_checkin"],
    "Clinic staff": ["view_checkin", "add_checkin", "void_checkin"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, "titration", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("titration", "0003_checkins_and_side_effects")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
