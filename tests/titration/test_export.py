import csv
import datetime
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import AccessLog
from titration import services
from titration.export import DEIDENTIFIED_HEADER, HEADER, neutralise
from titration.models import DoseEntry

pytestmark = pytest.mark.django_db


def body_of(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


def download(client, patient, query=""):
    """The response, the rows above the table, and the table's rows as dicts."""
    response = client.get(f"/patients/{patient.pk}/export.csv{query}")
    lines = list(csv.reader(io.StringIO(body_of(response), newline="")))
    start = next(i for i, row in enumerate(lines) if row and row[0] in ("Date", "Day"))
    table = [dict(zip(lines[start], row, strict=True)) for row in lines[start + 1 :]]
    return response, lines[:start], lines[start], table


def ago(today, n):
    return today - datetime.timedelta(days=n)


@pytest.fixture
def record(patient, prescriber, staff, today):
    """A voided dose and its correction, a tenfold slip, a missed dose and a check-in with a severe effect."""
    wrong, _ = services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 3), dose_mg=Decimal("1.50"))
    services.dose_void(entry=wrong, by=prescriber, reason='=HYPERLINK("http://evil")')
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 3), dose_mg=Decimal("1.5"))
    services.checkin_record(patient=patient, by=staff, checked_on=ago(today, 3), pain_score=7)
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 2), dose_mg=None, status="missed")
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 1), dose_mg=Decimal("1"))
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


def test_the_headers_are_words_a_spreadsheet_user_reads(staff_client, record):
    _, _, header, _ = download(staff_client, record)
    assert header == HEADER
    assert header[:3] == ["Date", "Record", "Dose (mg)"]
    for title in ("Expected dose (mg)", "Status", "Pain (0–10)", "Flags", "Recorded at", "Void reason"):
        assert title in header
    assert not [title for title in header if "_" in title]  # no snake_case


def test_the_liquid_columns_have_readable_headers_when_the_dose_log_keeps_them(staff_client, record):
    _, _, header, _ = download(staff_client, record)
    if any(field.name == "dose_ml" for field in DoseEntry._meta.get_fields()):
        assert "Dose (mL)" in header and "Concentration (mg/mL)" in header
    assert "dose_ml" not in header and "concentration_mg_per_ml" not in header


def test_one_table_sorted_by_date_with_a_record_column(staff_client, record, today):
    _, _, _, table = download(staff_client, record)
    assert [(row["Date"], row["Record"]) for row in table] == [
        (ago(today, 3).isoformat(), "Dose"),  # voided
        (ago(today, 3).isoformat(), "Dose"),
        (ago(today, 3).isoformat(), "Check-in"),
        (ago(today, 2).isoformat(), "Dose"),
        (ago(today, 1).isoformat(), "Dose"),
        (today.isoformat(), "Dose"),
        (today.isoformat(), "Check-in"),
    ]


def test_voided_and_missed_rows_leave_the_dose_empty_and_carry_their_status(staff_client, record):
    _, _, _, table = download(staff_client, record)
    voided, corrected, checkin, missed, taken, tenfold, _ = table
    assert (voided["Dose (mg)"], voided["Status"], voided["Voided"]) == ("", "Voided (was 1.5 mg, taken)", "Yes")
    assert (missed["Dose (mg)"], missed["Status"]) == ("", "Missed")
    assert (corrected["Dose (mg)"], corrected["Status"], corrected["Voided"]) == ("1.5", "Taken", "No")
    assert (checkin["Dose (mg)"], checkin["Status"], checkin["Pain (0–10)"]) == ("", "Check-in", "7")
    assert (taken["Dose (mg)"], tenfold["Dose (mg)"]) == ("1", "15")


def test_a_sum_of_the_dose_column_is_the_total_of_the_taken_doses(staff_client, record):
    _, _, _, table = download(staff_client, record)
    total = sum(Decimal(row["Dose (mg)"]) for row in table if row["Dose (mg)"])
    taken = DoseEntry.objects.live().filter(patient=record, status="taken").values_list("dose_mg", flat=True)
    assert total == sum(taken) == Decimal("17.5")


def test_flags_are_written_as_severity_and_kind_in_words(staff_client, record, prescriber):
    _, _, _, table = download(staff_client, record)
    tenfold, checkin = table[5], table[6]
    assert tenfold["Flags"].split("; ") == ["Critical: tenfold change (open)", "Warning: outside LDN range (open)"]
    assert checkin["Flags"] == "Warning: severe side effect (open)"
    services.dose_void(entry=DoseEntry.objects.get(dose_mg=Decimal("15")), by=prescriber, reason="decimal slip")
    _, _, _, table = download(staff_client, record)
    assert table[5]["Flags"] == "Critical: tenfold change (entry voided); Warning: outside LDN range (entry voided)"


def test_the_first_rows_name_the_patient_and_the_export_time_in_the_clinic_s_zone(staff_client, record):
    _, preamble, _, _ = download(staff_client, record)
    assert preamble[:3] == [["Patient", "Byron, Ada"], ["MRN", "A-100"], ["Date of birth", "1980-06-01"]]
    assert preamble[3][0] == "Exported" and preamble[4] == []
    exported = datetime.datetime.fromisoformat(preamble[3][1])
    assert exported.utcoffset() == datetime.timedelta(0)  # the test clinic's zone: UTC, offset written
    assert abs(exported - timezone.now()) < datetime.timedelta(minutes=1)


def test_times_are_in_the_clinic_s_time_zone_with_its_offset(staff_client, record, clinic):
    if not hasattr(clinic, "time_zone"):
        pytest.skip("clinics have no time zone of their own here")
    clinic.time_zone = "America/New_York"
    clinic.save()
    _, preamble, _, table = download(staff_client, record)
    offset = timezone.now().astimezone(zoneinfo.ZoneInfo("America/New_York")).utcoffset()
    assert offset in (datetime.timedelta(hours=-5), datetime.timedelta(hours=-4))
    assert preamble[3][1].endswith("-05:00" if offset == datetime.timedelta(hours=-5) else "-04:00")
    assert datetime.datetime.fromisoformat(table[-1]["Recorded at"]).utcoffset() == offset


def test_dates_are_iso_8601(staff_client, record):
    _, _, _, table = download(staff_client, record)
    for row in table:
        datetime.date.fromisoformat(row["Date"])
        datetime.datetime.fromisoformat(row["Recorded at"])


def test_the_de_identified_export_has_no_name_mrn_birth_date_or_free_text_and_counts_days_from_the_first_dose(
    staff_client, record, today
):
    response, preamble, header, table = download(staff_client, record, "?deidentified=1")
    body = body_of(staff_client.get(f"{reverse('titration:export', args=[record.pk])}?deidentified=1"))
    for identifier in ("Byron", "Ada", "A-100", "1980", "dr.lee", "nurse.kim", "HYPERLINK", "pharmacy", "fine"):
        assert identifier not in body, identifier
    assert today.isoformat() not in body and str(today.year) not in body  # no calendar date at all
    assert "deidentified" in response["Content-Disposition"]
    assert header == DEIDENTIFIED_HEADER and header[0] == "Day"
    assert preamble[0][0].startswith("De-identified export")
    # Day 0 is the first dose taken (3 days ago; the voided entry of that day does not count either way).
    assert [(row["Day"], row["Record"], row["Dose (mg)"]) for row in table] == [
        ("0", "Dose", ""),
        ("0", "Dose", "1.5"),
        ("0", "Check-in", ""),
        ("1", "Dose", ""),
        ("2", "Dose", "1"),
        ("3", "Dose", "15"),
        ("3", "Check-in", ""),
    ]
    assert table[5]["Flags"].startswith("Critical: tenfold change")
    assert {row["Recorded on day"] for row in table} <= {"0", "1", "2", "3"}


def test_formula_cells_are_neutralised_and_text_is_quoted(staff_client, record):
    _, _, _, table = download(staff_client, record)
    assert table[0]["Void reason"] == '\'=HYPERLINK("http://evil")'
    assert table[5]["Out-of-range reason"] == "'+checked with pharmacy"
    assert table[6]["Notes"] == 'said "fine", then, later:\nnot fine'


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


def test_both_roles_may_export_both_variants_and_each_export_is_logged(staff_client, prescriber_client, staff, record):
    download(staff_client, record)
    download(prescriber_client, record)
    download(staff_client, record, "?deidentified=1")
    logs = AccessLog.objects.filter(action=AccessLog.Action.EXPORT, patient=record)
    assert logs.count() == 3
    assert staff in [log.user for log in logs]
    assert logs.first().ip_address == "127.0.0.1"


def test_the_export_is_streamed(staff_client, record):
    response = staff_client.get(reverse("titration:export", args=[record.pk]))
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"


def test_an_empty_record_has_the_patient_rows_and_the_header(staff_client, patient):
    _, preamble, header, table = download(staff_client, patient)
    assert preamble[0] == ["Patient", "Byron, Ada"] and header == HEADER and table == []
    _, _, header, table = download(staff_client, patient, "?deidentified=1")
    assert header == DEIDENTIFIED_HEADER and table == []


@pytest.mark.parametrize("query", ["?deidentified=yes", "?deidentified=", "?deidentified=0"])
def test_anything_but_deidentified_1_is_the_identified_export(staff_client, patient, query):
    _, preamble, _, _ = download(staff_client, patient, query)
    assert preamble[1] == ["MRN", "A-100"]


def test_another_clinic_gets_404_and_nothing_is_logged(outsider_client, record):
    assert outsider_client.get(reverse("titration:export", args=[record.pk])).status_code == 404
    assert outsider_client.get(f"{reverse('titration:export', args=[record.pk])}?deidentified=1").status_code == 404
    assert not AccessLog.objects.exists()


def test_missed_entries_carry_no_dose_and_the_expected_dose_is_the_patient_paced_one(
    staff_client, patient, prescriber, today
):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 30),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
    )
    for n in (3, 2):
        services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, n), dose_mg=Decimal("0.5"))
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=ago(today, 1),
        dose_mg=Decimal("45"),  # typed with a missed status: never stored, never counted
        status="missed",
    )
    _, _, _, table = download(staff_client, patient)
    assert [(row["Dose (mg)"], row["Expected dose (mg)"], row["Status"]) for row in table] == [
        ("0.5", "0.5", "Taken"),  # the calendar of a plan started 30 days ago would say 2.5 mg
        ("0.5", "0.5", "Taken"),
        ("", "0.5", "Missed"),
    ]
