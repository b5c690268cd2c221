"""Seed the condition reference table and the two role groups.

Codes from the clinical reference ("Codes"): ICD-10-CM and SNOMED CT. Since 1 Oct 2025 (FY2026)
G35 is not billable for multiple sclerosis; its subcodes are listed instead.
"""

from django.db import migrations

from patients.migration_helpers import grant_permissions

CONDITIONS = [
    ("Fibromyalgia", "M79.7", "203082005"),
    (
        "Complex regional pain syndrome type I",
        "G90.50; G90.511, G90.512, G90.513 (upper limb R/L/both); G90.521, G90.522, G90.523 (lower limb); G90.59",
        "128200000",
    ),
    ("Complex regional pain syndrome type II (causalgia)", "G56.4- (upper limb); G57.7- (lower limb)", ""),
    ("Diabetic polyneuropathy", "E11.42 (type 2); E10.42 (type 1)", ""),
    ("Post-herpetic neuralgia", "B02.29", ""),
    ("Neuropathic pain, other", "", ""),
    (
        "Multiple sclerosis",
        "G35.A (relapsing-remitting); G35.B0–G35.B2 (primary progressive); "
        "G35.C0–G35.C2 (secondary progressive); G35.D (unspecified)",
        "24700007",
    ),
    ("Crohn's disease", "K50.-", "34000006"),
    ("Ulcerative colitis", "K51.-", "64766004"),
    ("Chronic pain, other", "G89.29; chronic pain syndrome G89.4", ""),
]

ROLE_PERMISSIONS = {
    "Prescribers": ["view_patient", "add_patient", "change_patient"],
    "Clinic staff": ["view_patient"],
}


def seed(apps, schema_editor):
    Condition = apps.get_model("patients", "Condition")
    for name, icd10, snomed in CONDITIONS:
        Condition.objects.update_or_create(name=name, defaults={"icd10_code": icd10, "snomed_code": snomed})

    grant_permissions(apps, "patients", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
