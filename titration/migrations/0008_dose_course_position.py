from collections import defaultdict

from django.db import migrations, models
from django.utils import timezone


def rederive_expected_doses_and_positions(apps, schema_editor):
    """Store the patient-paced expected dose and the course position after every live dose entry.

    Entries recorded before this stored the plan's calendar dose; the course module (pure functions of
    plain values) walks each patient's record as re-assessment does.
    """
    from titration import course, rules

    DoseEntry = apps.get_model("titration", "DoseEntry")
    TitrationPlan = apps.get_model("titration", "TitrationPlan")
    PlanStateChange = apps.get_model("titration", "PlanStateChange")
    Patient = apps.get_model("patients", "Patient")
    patient_ids = DoseEntry.objects.filter(voided_at__isnull=True).values_list("patient_id", flat=True).distinct()
    for patient_id in patient_ids.iterator():
        patient = Patient.objects.select_related("clinic").get(pk=patient_id)
        states = defaultdict(list)
        for change in PlanStateChange.objects.filter(patient_id=patient_id).order_by(
            "effective_on", "changed_at", "pk"
        ):
            states[change.plan_id].append((change.effective_on, rules.PlanState(change.state)))
        plans = sorted(
            TitrationPlan.objects.filter(patient_id=patient_id), key=lambda p: (p.start_date, p.created_at, p.pk)
        )
        terms = [
            rules.PlanTerms(
                plan_id=plan.pk,
                start_date=plan.start_date,
                starting_dose_mg=plan.starting_dose_mg,
                step_mg=plan.step_mg,
                step_interval_days=plan.step_interval_days,
                target_dose_mg=plan.target_dose_mg,
                last_day=timezone.localdate(plan.ended_at) if plan.ended_at else None,
                states=tuple(states.get(plan.pk, ())),
            )
            for plan in plans
        ]
        rows = DoseEntry.objects.filter(patient_id=patient_id, voided_at__isnull=True).values_list(
            "pk", "taken_on", "status", "dose_mg"
        )
        facts = [course.EntryFact(pk, day, status == "taken", dose) for pk, day, status, dose in rows]
        assessed, _ = course.walk(facts, terms, patient.clinic.restart_after_gap_days)
        DoseEntry.objects.bulk_update(
            [
                DoseEntry(pk=item.entry.id, scheduled_dose_mg=item.context.expected, course_after=item.after.as_json())
                for item in assessed
            ],
            ["scheduled_dose_mg", "course_after"],
            batch_size=500,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0007_mrn_unique_in_any_case"),
        ("titration", "0007_engine_v2"),
    ]

    operations = [
        migrations.AddField(
            model_name="doseentry",
            name="course_after",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(rederive_expected_doses_and_positions, migrations.RunPython.noop),
    ]
