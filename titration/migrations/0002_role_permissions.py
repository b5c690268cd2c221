"""Grant the titration permissions to the two role groups."""

from django.db import migrations

from patients.migration_helpers import grant_permissions

ROLE_PERMISSIONS = {
    "Prescribers": [
        "view_titrationplan",
        "add_titrationplan",
        "view_doseentry",
        "add_doseentry",
        "void_doseentry",
        "view_flag",
        "acknowledge_flag",
    ],
    "Clinic staff": ["view_titrationplan", "view_doseentry", "view_flag", "acknowledge_flag"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, "titration", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("titration", "0001_initial"), ("patients", "0002_seed_conditions_and_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
