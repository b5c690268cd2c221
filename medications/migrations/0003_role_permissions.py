"""Grant the medication permissions to both role groups.

Prescribers and clinic staff alike record, end and void medications, since staff take medication histories,
and both keep the safety profile: the facts it holds (pregnancy, breastfeeding, liver disease, a known reaction to
naltrexone) are taken at intake by whoever sees the patient, it only ever warns the prescriber, and every change is
audited with who and when.
"""

from django.db import migrations

from patients.migration_helpers import grant_permissions

BOTH_ROLES = [
    "view_opioidingredient",
    "view_medicationentry",
    "add_medicationentry",
    "end_medicationentry",
    "void_medicationentry",
    "view_safetyprofile",
    "change_safetyprofile",
]
ROLE_PERMISSIONS = {"Prescribers": BOTH_ROLES, "Clinic staff": BOTH_ROLES}


def grant(apps, schema_editor):
    grant_permissions(apps, "medications", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("medications", "0002_opioid_reference_list"), ("patients", "0002_seed_conditions_and_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
