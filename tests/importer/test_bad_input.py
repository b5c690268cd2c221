"""Bad files and bad rows: a clear message for the file or for each row, never a 500."""

from __future__ import annotations

from decimal import Decimal

import pytest

from importer import formats
from importer.formats import ImportFileError, parse
from importer.services import import_run
from titration import export
from titration.forms import PAIN_RANGE
from titration.models import DoseEntry

from .conftest import csv_bytes, person, upload, xlsx_bytes

pytestmark = pytest.mark.django_db


def refused(clinic, by, data, name="doses.csv"):
    report = import_run(clinic=clinic, by=by, parsed=parse(data, name), file_name=name)
    return {item["row"]: item["message"] for item in report.refused}


def test_a_file_that_is_not_utf8_is_refused_with_where_it_fails(prescriber_client, clinic, days):
    data = csv_bytes([{**person(family_name="Müller"), "date": days(1), "dose_mg": "1"}], encoding="latin-1")
    response = upload(prescriber_client, data, clinic=clinic)
    assert response.status_code == 200
    assert "The file is not UTF-8 text (byte 0xFC at position" in response.content.decode()


def test_a_utf8_file_with_a_byte_order_mark_is_read(clinic, prescriber, days):
    data = b"\xef\xbb\xbf" + csv_bytes([{**person(family_name="Müller"), "date": days(1), "dose_mg": "1"}])
    assert parse(data, "x.csv").rows[0].patient.family_name == "Müller"


def test_a_missing_column_is_named(prescriber_client, clinic, days):
    columns = [c for c in formats.TEMPLATE_COLUMNS if c != "date"]
    response = upload(prescriber_client, csv_bytes([person()], columns), clinic=clinic)
    assert response.status_code == 200
    assert "The file has no “date” column." in response.content.decode()


def test_a_date_in_another_format_says_which_format_was_expected(clinic, prescriber):
    messages = refused(clinic, prescriber, csv_bytes([{**person(), "date": "12/03/2026", "dose_mg": "1"}]))
    assert messages == {2: "12/03/2026 is not a date in YYYY-MM-DD form."}


def test_a_formula_in_a_dose_cell_refuses_the_row_and_is_never_run(clinic, prescriber, days):
    header = list(formats.TEMPLATE_COLUMNS)
    row = dict.fromkeys(header, None) | person() | {"date": days(1), "dose_mg": "=1+1", "notes": "=HYPERLINK(1)"}
    other = dict.fromkeys(header, None) | person() | {"date": days(2), "dose_mg": 1, "notes": "=HYPERLINK(1)"}
    data = xlsx_bytes([header, list(row.values()), list(other.values())])
    messages = refused(clinic, prescriber, data, "book.xlsx")
    assert messages == {2: "The dose_mg cell holds a formula (=1+1): enter the value itself. Formulas are never run."}
    import_run(clinic=clinic, by=prescriber, parsed=parse(data, "book.xlsx"), file_name="book.xlsx", commit=True)
    assert DoseEntry.objects.get().notes == "=HYPERLINK(1)"  # a formula in a text cell is stored as text


def test_xlsx_date_cells_and_numbers_are_read_as_values(clinic, prescriber, days):
    header = list(formats.TEMPLATE_COLUMNS)
    row = dict.fromkeys(header, None) | person() | {"date": days(1), "dose_mg": 1.5, "pain_score": 4}
    parsed = parse(xlsx_bytes([header, list(row.values())]), "book.xlsx")
    assert (parsed.rows[0].day, str(parsed.rows[0].dose.dose), parsed.rows[0].checkin.pain_score) == (days(1), "1.5", 4)


def test_a_second_dose_for_the_same_day_in_the_file_is_refused(clinic, prescriber, days):
    rows = [{**person(), "date": days(1), "dose_mg": "1"}, {**person(), "date": days(1), "dose_mg": "1.5"}]
    messages = refused(clinic, prescriber, csv_bytes(rows))
    assert messages == {3: f"A second dose for MRN IMP-1 on {days(1)} (already in row 2)."}


def test_each_bad_cell_gets_its_own_row_message(clinic, prescriber, days, today):
    future = today.replace(year=today.year + 1)
    rows = [
        {**person(), "date": days(1), "dose_mg": "abc"},
        {**person(), "date": days(2), "dose_mg": "60"},
        {**person(), "date": days(3), "dose_mg": "1", "pain_score": "11"},
        {**person(), "date": future, "dose_mg": "1"},
        {**person(), "date": days(4), "dose_mg": "1", "status": "skipped"},
        {**person(), "date": days(5)},
        {**person(), "date": days(6), "dose_mg": "1", "side_effects": "Headache"},
    ]
    messages = refused(clinic, prescriber, csv_bytes(rows))
    assert messages[2] == "abc: Enter the dose as a number of mg, for example 1.5."
    assert messages[3].startswith("No LDN dose can be above 50 mg")
    assert messages[4] == PAIN_RANGE
    assert messages[5] == "The date cannot be in the future."
    assert messages[6] == "skipped is not a status: write taken or missed."
    assert messages[7] == formats.NOTHING_TO_IMPORT
    assert messages[8] == "Headache is not a side effect with its severity, for example 'Insomnia (mild)'."


def test_more_rows_than_the_limit_are_refused_as_a_whole(monkeypatch, prescriber_client, clinic, days):
    monkeypatch.setattr(formats, "MAX_ROWS", 3)
    rows = [{**person(), "date": days(n), "dose_mg": "1"} for n in range(1, 5)]
    response = upload(prescriber_client, csv_bytes(rows), clinic=clinic)
    assert formats.TOO_MANY_ROWS in response.content.decode()


def test_a_file_over_20_mb_is_refused(monkeypatch, prescriber_client, clinic, days):
    monkeypatch.setattr("importer.forms.MAX_BYTES", 100)
    response = upload(prescriber_client, csv_bytes([{**person(), "date": days(1), "dose_mg": "1"}] * 3), clinic=clinic)
    assert formats.TOO_BIG in response.content.decode()
    with pytest.raises(ImportFileError, match="larger than 20 MB"):
        parse(b"x" * (formats.MAX_BYTES + 1), "big.csv")


def test_a_file_that_is_not_a_workbook_is_refused(prescriber_client, clinic):
    response = upload(prescriber_client, b"PK\x03\x04 not really a zip", "book.xlsx", clinic=clinic)
    assert response.status_code == 200
    assert formats.NOT_XLSX in response.content.decode()


def test_the_export_s_columns_are_all_recognised():
    names = [formats._header_name(h) for h in export.HEADER]
    assert formats.is_export_header(names), "titration.export.HEADER changed: update EXPORT_SIGNATURE"
    mapped = {formats.EXPORT_COLUMNS[name] for name in names if name in formats.EXPORT_COLUMNS}
    wanted = {"record", "date", "dose_mg", "status", "formulation", "pain_score", "sleep_quality", "side_effects"}
    assert wanted | {"notes", "override_reason", "voided"} <= mapped, "update EXPORT_COLUMNS"


def test_semicolon_separated_csv_is_read(clinic, prescriber, days):
    data = f"mrn;date;dose_mg\nA-1;{days(1).isoformat()};1.5\n".encode()
    assert str(parse(data, "semi.csv").rows[0].dose.dose) == "1.5"


def test_a_cell_read_once_for_many_rows_still_refuses_every_row_that_has_it(days):
    """Cells are read once per distinct text (dates, doses, scores): a bad one refuses each of its rows, a good
    one gives each row the same value."""
    data = csv_bytes(
        [
            {**person(), "date": days(3), "dose_mg": "1,5", "pain_score": "11"},
            {**person(), "date": days(2), "dose_mg": "1,5", "pain_score": "4"},
            {**person(), "date": days(1), "dose_mg": "1.5", "pain_score": "11"},
            {**person(), "date": "2024-02-30", "dose_mg": "1.5", "pain_score": "4"},
            {**person(), "date": "2024-02-30", "dose_mg": "1.5", "pain_score": "4"},
            {**person(), "date": days(1), "dose_mg": "1.5", "pain_score": "4"},
        ]
    )
    rows = parse(data, "x.csv").rows
    assert [bool(r.error) for r in rows] == [True, True, True, True, True, False]
    assert rows[0].error == rows[1].error and rows[3].error == rows[4].error
    assert rows[0].error.startswith("1,5: ") and rows[3].error == "2024-02-30 is not a day of the calendar."
    assert rows[2].error == parse(data, "x.csv").rows[2].error  # the pain score's message, again
    assert (rows[5].dose.dose, rows[5].checkin.pain_score) == (Decimal("1.5"), 4)
