import django.db.models.functions.text
from django.db import migrations, models

from patients.migration_helpers import refuse_mrn_clashes


class Migration(migrations.Migration):
    """MRNs unique per clinic regardless of letter case ("dup-1" and "DUP-1" are one MRN).

    Existing clashes stop the migration with a list of them: an administrator renames them first.
    """

    dependencies = [
        ("patients", "0006_access_log_lists_and_forms"),
    ]

    operations = [
        migrations.RunPython(refuse_mrn_clashes, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="patient",
            name="patient_unique_mrn_per_clinic",
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                models.F("clinic"),
                django.db.models.functions.text.Lower("mrn"),
                name="patient_unique_mrn_ci_per_clinic",
            ),
        ),
    ]
