import csv
import io
from decimal import Decimal

import pytest

from patients.models import AccessLog
from titration import services
from titration.export import HEADER, neutralise

pytestmark = pytest.mark.django_db


def download(client, patient):
    response = client.get(f"/patients/{patient.pk}/export.csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    return response, list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def record(patient, prescriber, staff, today):
    import datetime

    yesterday = today - datetime.timedelta(days=1)
    wrong, _ = services.dose_record(patient=patient, by=prescriber, taken_on=yesterday, dose_mg=Decimal("1.50"))
    services.dose_void(entry=wrong, by=prescriber, reason='=HYPERLINK("http://evil")')
    services.dose_record(patient=patient, by=prescriber, taken_on=yesterday, dose_mg=Decimal("1.5"))
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today,
        dose_mg=Decimal("15"),
        confirmed=True,
        override_reason="+checked with pharmacy",
    )
    services.checkin_record(
        patient=patient,
        by=staff,
        checked_on=today,
        pain_score=6,
        notes='said "fine", then, later:\nnot fine',
        side_effects=[("insomnia", "severe", "")],
    )
    return patient


def test_every_dose_and_checkin_is_a_row(staff_client, record, today):
    response, rows = download(staff_client, record)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="patient-{record.pk}-{today.isoformat()}.csv"'
    assert record.family_name not in response["Content-Disposition"]
    assert [row["record"] for row in rows] == ["dose", "dose", "dose", "checkin"]
    voided, corrected, tenfold, checkin = rows
    assert (voided["voided"], voided["dose_mg"]) == ("yes", "1.5")
    assert corrected["voided"] == "no"
    assert tenfold["dose_mg"] == "15"
    assert tenfold["date"] == today.isoformat()
    assert "tenfold_change:critical" in tenfold["flags"]
    assert "out_of_range:warning" in tenfold["flags"]
    assert checkin["pain_score"] == "6"
    assert checkin["side_effects"] == "Insomnia (severe)"
    assert checkin["flags"] == "severe_side_effect:warning [open]"
    assert "tenfold_change:critical [entry voided]" not in voided["flags"]  # the 1.50 entry had no flag


def test_formula_cells_are_neutralised_and_text_is_quoted(staff_client, record):
    _, rows = download(staff_client, record)
    assert rows[0]["void_reason"] == '\'=HYPERLINK("http://evil")'
    assert rows[2]["override_reason"] == "'+checked with pharmacy"
    assert rows[3]["notes"] == 'said "fine", then, later:\nnot fine'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (Decimal("1.50"), "1.5"),
        (None, ""),
    ],
)
def test_neutralise(value, cell):
    assert neutralise(value) == cell


def test_both_roles_may_export_and_each_export_is_logged(staff_client, prescriber_client, staff, record):
    download(staff_client, record)
    download(prescriber_client, record)
    logs = AccessLog.objects.filter(action=AccessLog.Action.EXPORT, patient=record)
    assert logs.count() == 2
    assert staff in [log.user for log in logs]
    assert logs.first().ip_address == "127.0.0.1"


def test_an_empty_record_has_only_the_header(staff_client, patient):
    response = staff_client.get(f"/patients/{patient.pk}/export.csv")
    body = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [HEADER]


def test_another_clinic_gets_404_and_nothing_is_logged(outsider_client, record):
    assert outsider_client.get(f"/patients/{record.pk}/export.csv").status_code == 404
    assert not AccessLog.objects.exists()


def test_missed_entries_carry_no_dose_and_the_expected_dose_is_the_patient_paced_one(
    staff_client, patient, prescriber, today
):
    import datetime

    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today - datetime.timedelta(days=30),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in (3, 2):
        services.dose_record(
            patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=n), dose_mg=Decimal("0.5")
        )
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=Decimal("45"),  # typed with a missed status: never stored, never counted
        status="missed",
    )
    _, rows = download(staff_client, patient)
    assert [(row["dose_mg"], row["expected_dose_mg"], row["status"]) for row in rows] == [
        ("0.5", "0.5", "taken"),  # the calendar of a plan started 30 days ago would say 2.5 mg
        ("0.5", "0.5", "taken"),
        ("", "0.5", "missed"),
    ]


def test_the_flags_column_names_each_flag_s_kind_severity_and_state(staff_client, record, prescriber):
    from titration.models import DoseEntry

    tenfold = DoseEntry.objects.get(dose_mg=Decimal("15"))
    services.dose_void(entry=tenfold, by=prescriber, reason="decimal slip")
    _, rows = download(staff_client, record)
    voided_tenfold = next(row for row in rows if row["dose_mg"] == "15")
    assert voided_tenfold["flags"] == "tenfold_change:critical [entry voided]; out_of_range:warning [entry voided]"
