"""One way of saying things on every page: name order, plurals, the role label, and the product's name.

Lists and tables give a patient as "Family, Given" (sorted that way); headings and sentences as "Given Family".
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from patients.models import Patient
from tests.conftest import client_for
from titration import services

pytestmark = pytest.mark.django_db

LIST_ORDER = "Byron, Ada"
SENTENCE_ORDER = "Ada Byron"


def text_of(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def section(html: str, start: str, end: str) -> str:
    begin = html.index(start)
    return html[begin : html.index(end, begin)]


def heading(html: str) -> str:
    return text_of(section(html, "<h1", "</h1>"))


@pytest.fixture
def flagged(patient: Patient, prescriber, today: datetime.date) -> Patient:
    """Ada Byron with an open critical flag (a tenfold step from 0.5 to 5 mg)."""
    services.dose_record(
        patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=2), dose_mg=Decimal("0.5")
    )
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=today - datetime.timedelta(days=1),
        dose_mg=Decimal("5"),
        confirmed=True,
        override_reason="As written on the prescription",
    )
    return patient


def test_the_patient_list_gives_names_family_name_first(prescriber_client: Client, patient: Patient):
    table = section(prescriber_client.get(reverse("patients:list")).content.decode(), "<tbody", "</tbody>")
    assert LIST_ORDER in text_of(table)
    assert SENTENCE_ORDER not in text_of(table)


def test_the_flag_queue_gives_names_family_name_first(prescriber_client: Client, flagged: Patient):
    table = text_of(section(prescriber_client.get(reverse("titration:flags")).content.decode(), "<tbody", "</tbody>"))
    assert LIST_ORDER in table
    assert SENTENCE_ORDER not in table


def test_the_dashboard_lists_give_names_family_name_first(prescriber_client: Client, flagged: Patient):
    page = text_of(section(prescriber_client.get("/").content.decode(), "<main", "</main>"))
    assert f"{LIST_ORDER} (MRN A-100): 1 critical flag for a prescriber to review" in page
    assert SENTENCE_ORDER not in page


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/patients/{pk}/", SENTENCE_ORDER),
        ("/patients/{pk}/edit/", f"Edit {SENTENCE_ORDER}"),
        ("/patients/{pk}/doses/new/", f"Log a dose for {SENTENCE_ORDER}"),
        ("/patients/{pk}/checkins/new/", f"Record a check-in for {SENTENCE_ORDER}"),
        ("/patients/{pk}/plan/", f"Titration plan for {SENTENCE_ORDER}"),
        ("/patients/{pk}/history/", f"Audit trail of {SENTENCE_ORDER}"),
    ],
)
def test_headings_give_the_name_given_name_first(prescriber_client: Client, patient: Patient, path, expected):
    html = prescriber_client.get(path.format(pk=patient.pk)).content.decode()
    assert heading(html) == expected
    assert LIST_ORDER not in text_of(section(html, "<title>", "</title>"))


def test_the_registration_message_gives_the_name_given_name_first(prescriber_client: Client, prescriber, fibromyalgia):
    data = {
        "mrn": "NEW-1",
        "given_name": "Grace",
        "family_name": "Hopper",
        "date_of_birth": "1975-12-09",
        "prescriber": prescriber.pk,
        "conditions": [fibromyalgia.pk],
        "is_active": "on",
    }
    page = prescriber_client.post(reverse("patients:create"), data, follow=True).content.decode()
    assert "Patient Grace Hopper registered." in page


@pytest.mark.parametrize(("count", "caption"), [(1, "1 patient"), (2, "2 patients")])
def test_the_patient_count_is_singular_for_one(prescriber_client: Client, make_patient, count, caption):
    for _ in range(count):
        make_patient()
    html = prescriber_client.get(reverse("patients:list")).content.decode()
    assert text_of(section(html, "<caption", "</caption>")) == caption


def test_the_flag_count_is_singular_for_one_and_plural_for_more(prescriber_client: Client, flagged: Patient):
    html = prescriber_client.get(f"{reverse('titration:flags')}?severity=critical").content.decode()
    assert text_of(section(html, "<caption", "</caption>")) == "1 open flag"
    html = prescriber_client.get(reverse("titration:flags")).content.decode()
    assert text_of(section(html, "<caption", "</caption>")) == "2 open flags"  # critical tenfold, warning range


@pytest.mark.parametrize(("interval", "expected"), [(1, "every 1 day,"), (7, "every 7 days,")])
def test_the_plan_interval_is_singular_for_one_day(
    prescriber_client: Client, patient: Patient, prescriber, today, interval, expected
):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=today,
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=interval,
        target_dose_mg=Decimal("4.5"),
    )
    page = text_of(prescriber_client.get(reverse("titration:patient", args=[patient.pk])).content.decode())
    assert f"+ 0.5 mg {expected}" in page


@pytest.mark.parametrize(
    ("client_fixture", "label"), [("prescriber_client", "Prescriber"), ("staff_client", "Clinic staff")]
)
def test_the_navbar_shows_the_role_in_the_singular(request, patient: Patient, client_fixture, label):
    client: Client = request.getfixturevalue(client_fixture)
    nav = text_of(section(client.get(reverse("patients:list")).content.decode(), "<nav", "</nav>"))
    assert f"· {label} Sign out" in nav
    assert "Prescribers" not in nav


def test_a_user_without_a_role_sees_no_role_label(clinic):
    from tests.conftest import make_user

    nav = text_of(section(client_for(make_user("no.role", None, clinic)).get("/").content.decode(), "<nav", "</nav>"))
    assert "no.role Sign out" in nav
    assert "·" not in nav


def test_the_sign_in_page_names_the_product(client: Client):
    page = text_of(section(client.get(reverse("login")).content.decode(), "<main", "</main>"))
    assert page.startswith("LDN Titration Tracker")
    assert "Sign in" in page


def test_registration_marks_each_date_diagnosed_for_the_script_and_keeps_every_field(
    prescriber_client: Client, fibromyalgia, crohns
):
    html = prescriber_client.get(reverse("patients:create")).content.decode()
    assert 'src="/static/js/diagnosis-dates.js"' in html
    for condition in (fibromyalgia, crohns):
        assert f'name="conditions" value="{condition.pk}"' in html
        field = re.search(rf'<div id="div_id_diagnosed_on_{condition.pk}" class="([^"]*)">(.*?)</div>', html, re.S)
        assert field is not None
        assert "diagnosis-date" in field.group(1).split()
        assert f'name="diagnosed_on_{condition.pk}"' in field.group(2)


@pytest.mark.parametrize("path", [reverse("patients:list"), reverse("titration:flags"), "/patients/{pk}/"])
def test_tables_sit_in_a_region_of_their_own(prescriber_client: Client, flagged: Patient, path):
    html = prescriber_client.get(path.format(pk=flagged.pk)).content.decode()
    # The print frame (role="presentation", its head and foot repeat on every printed page) is layout, not data.
    tables = html.count("<table") - html.count('<table class="print-frame" role="presentation">')
    assert tables >= 1
    assert len(re.findall(r'<div class="table-reflow">\s*<table', html)) == tables


def test_every_page_loads_the_menu_script_and_the_table_script(prescriber_client: Client):
    html = prescriber_client.get("/").content.decode()
    head = section(html, "<head>", "</head>")
    for script in ("js/scripted.js", "vendor/bootstrap/js/bootstrap.bundle.min.js", "js/table-reflow.js"):
        assert f'src="/static/{script}"' in head
    assert 'data-bs-target="#main-menu"' in html and 'id="main-menu"' in html
