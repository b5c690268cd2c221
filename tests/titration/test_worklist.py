"""The worklist page: who needs something today, the counts by reason, and today's expected dose in one action."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from patients.models import Clinic, Membership
from tests.conftest import client_for
from tests.dbstate import database_unchanged
from titration import rules, services, worklist_views
from titration.models import DoseEntry, DoseStatus, Flag

from .conftest import dose_post, plan_for, take

pytestmark = pytest.mark.django_db

WORKLIST = reverse("titration:worklist")


def ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


def log_url(patient) -> str:
    return reverse("titration:dose-log-expected", args=[patient.pk])


def row(html: str, patient) -> str:
    """The text of the patient's row, tags and extra spaces removed."""
    match = re.search(rf'<tr id="row-{patient.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {patient.mrn}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def page(client) -> str:
    response = client.get(WORKLIST)
    assert response.status_code == 200
    return response.content.decode()


def log_post(day: datetime.date, dose: str, **extra: str) -> dict[str, str]:
    return {"taken_on": day.isoformat(), "dose_mg": dose, **extra}


# --- who is listed, and why ----------------------------------------------------------------------------


def test_a_patient_due_a_dose_today_is_listed_with_the_expected_and_the_last_dose(
    clock, staff_client, make_patient, prescriber
):
    patient = make_patient(given_name="Dee", family_name="Due")
    plan_for(patient, prescriber, ago(3))
    take(patient, prescriber, ago(3), ago(1), "0.5")
    text = row(page(staff_client), patient)
    assert "Dose due today" in text
    assert "Step-up due" not in text
    assert "0.5 mg" in text  # expected today
    assert "0.5 mg on 8 Mar 2026" in text  # the last dose taken, with its day


def test_a_dose_logged_today_takes_a_patient_who_was_only_due_off_the_list(
    clock, staff_client, make_patient, prescriber
):
    patient = make_patient(given_name="Dee", family_name="Done")
    plan_for(patient, prescriber, ago(3))
    take(patient, prescriber, ago(3), ago(0), "0.5")
    assert f'id="row-{patient.pk}"' not in page(staff_client)


def test_a_missed_dose_logged_today_also_settles_the_day(clock, staff_client, make_patient, prescriber):
    patient = make_patient(given_name="Mo", family_name="Missed")
    plan_for(patient, prescriber, ago(3))
    take(patient, prescriber, ago(3), ago(1), "0.5")
    take(patient, prescriber, ago(0), ago(0), None, status=DoseStatus.MISSED)
    assert f'id="row-{patient.pk}"' not in page(staff_client)


def test_a_step_up_due_or_overdue_is_listed_with_the_step_dose(clock, staff_client, make_patient, prescriber):
    patient = make_patient(given_name="Ste", family_name="Stepper")
    plan_for(patient, prescriber, ago(20))
    take(patient, prescriber, ago(20), ago(1), "0.5")  # the step to 1 mg fell due 13 days ago
    text = row(page(staff_client), patient)
    assert "Dose due today" in text
    assert "Step-up due: 1 mg" in text
    assert "1 mg" in text.split("Step-up due: 1 mg", 1)[1]  # expected today: the step


def test_a_patient_with_a_missed_dose_warning_is_listed(clock, staff_client, make_patient, prescriber):
    patient = make_patient(given_name="Ada", family_name="Absent")
    plan_for(patient, prescriber, ago(10))
    take(patient, prescriber, ago(10), ago(4), "0.5")
    take(patient, prescriber, ago(3), ago(0), None, status=DoseStatus.MISSED)  # today logged: only the warning
    text = row(page(staff_client), patient)
    assert "Missed-dose warning" in text
    assert "Dose due today" not in text
    assert "0.5 mg on 5 Mar 2026" in text


def test_a_patient_with_no_dose_taken_for_7_days_is_listed_and_6_days_is_not(
    clock, staff_client, make_patient, prescriber
):
    seven, six = make_patient(given_name="Sev", family_name="Seven"), make_patient(given_name="Six", family_name="Six")
    for patient, last in ((seven, 7), (six, 6)):
        plan_for(patient, prescriber, ago(20))
        take(patient, prescriber, ago(20), ago(last), "0.5")
    html = page(staff_client)
    assert "No dose taken for 7 days or more" in row(html, seven)
    assert "0.5 mg on 2 Mar 2026" in row(html, seven)
    assert "No dose taken for 7 days or more" not in row(html, six)
    assert "0.5 mg on 3 Mar 2026" in row(html, six)


def test_a_patient_with_an_open_critical_flag_is_listed_without_a_plan(clock, staff_client, make_patient, prescriber):
    patient = make_patient(given_name="Cri", family_name="Critical")
    take(patient, prescriber, ago(1), ago(1), "1.5")
    services.dose_record(
        patient=patient, by=prescriber, taken_on=ago(0), dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )
    text = row(page(staff_client), patient)
    assert "1 open critical flag" in text
    assert "15 mg on 9 Mar 2026" in text
    assert "Log" not in text  # no plan: nothing expected, nothing to log in one action
    services.dose_void(entry=DoseEntry.objects.get(dose_mg=15), by=prescriber, reason="decimal slip")
    assert f'id="row-{patient.pk}"' not in page(staff_client)


def test_paused_and_stopped_patients_are_not_due(clock, staff_client, make_patient, prescriber):
    paused = make_patient(given_name="Pau", family_name="Paused")
    plan_for(paused, prescriber, ago(5))
    take(paused, prescriber, ago(5), ago(1), "0.5")
    services.plan_state_set(patient=paused, by=prescriber, state="paused", reason="surgery next week")
    assert f'id="row-{paused.pk}"' not in page(staff_client)


def test_other_clinics_patients_are_never_listed(clock, outsider_client, make_patient, prescriber):
    patient = make_patient(given_name="Dee", family_name="Due")
    plan_for(patient, prescriber, ago(3))
    html = page(outsider_client)
    assert "Due, Dee" not in html
    assert "0 patients to see today" in html


def test_the_counts_by_reason_head_the_page_with_correct_plurals(clock, staff_client, make_patient, prescriber):
    for name in ("One", "Two"):
        patient = make_patient(given_name=name, family_name="Due")
        plan_for(patient, prescriber, ago(3))
        take(patient, prescriber, ago(3), ago(1), "0.5")
    stepper = make_patient(given_name="Ste", family_name="Stepper")
    plan_for(stepper, prescriber, ago(20))
    take(stepper, prescriber, ago(20), ago(1), "0.5")
    text = " ".join(re.sub(r"<[^>]+>", " ", page(staff_client)).split())
    assert "3 patients to see today" in text
    assert "3 patients due a dose today, not yet logged" in text
    assert "1 patient with a step-up due or overdue" in text
    assert "0 patients with an open critical flag" in text
    assert text.index("patients to see today") < text.index("Due, One")  # the counts come first


def test_staff_see_the_list_without_the_log_button(clock, staff_client, prescriber_client, make_patient, prescriber):
    patient = make_patient(given_name="Dee", family_name="Due")
    plan_for(patient, prescriber, ago(3))
    take(patient, prescriber, ago(3), ago(1), "0.5")
    assert log_url(patient) not in page(staff_client)
    prescribers = page(prescriber_client)
    assert f'action="{log_url(patient)}"' in prescribers
    assert "Log 0.5 mg taken today" in row(prescribers, patient)
    assert f'href="/patients/{patient.pk}/doses/new/"' in prescribers  # any other dose: the form


def test_the_navbar_links_the_worklist_first(staff_client):
    nav = staff_client.get("/").content.decode().split('<ul class="navbar-nav', 1)[1]
    assert nav.index('href="/worklist/"') < nav.index('href="/"')


# --- the one-action log ---------------------------------------------------------------------------------


@pytest.fixture
def stepper(clock, make_patient, prescriber):
    """Overdue the step to 1 mg: today's expected dose is 1 mg."""
    patient = make_patient(given_name="Ste", family_name="Stepper")
    plan_for(patient, prescriber, ago(20))
    take(patient, prescriber, ago(20), ago(1), "0.5")
    return patient


def test_a_prescriber_logs_exactly_the_expected_dose_in_one_action(stepper, prescriber_client, prescriber):
    response = prescriber_client.post(log_url(stepper), log_post(ago(0), "1 mg"))
    assert response.status_code == 302
    entry = DoseEntry.objects.get(patient=stepper, taken_on=ago(0))
    assert (entry.dose_mg, entry.status, entry.recorded_by) == (Decimal("1"), DoseStatus.TAKEN, prescriber)
    assert entry.formulation == stepper.plans.get(is_active=True).formulation
    assert entry.scheduled_dose_mg == Decimal("1")  # stored by the service with the day's expected dose
    assert entry.history.count() == 1  # through the audited service
    html = prescriber_client.get(response["Location"]).content.decode()
    assert "Ste Stepper: taken dose for 9 Mar 2026 recorded: 1 mg." in html
    assert f'id="row-{stepper.pk}"' not in html  # settled for today


def test_the_one_action_raises_the_flags_the_dose_form_would(clock, make_patient, prescriber, prescriber_client):
    """Twin patients overdue the same step: the step dose through the dose form and through the one action."""
    twins = [make_patient(given_name=name, family_name="Twin") for name in ("Form", "Button")]
    for twin in twins:
        plan_for(twin, prescriber, ago(12), starting="0.5", step="0.5", target="1")
        take(twin, prescriber, ago(12), ago(1), "0.5")
    via_form, via_button = twins
    prescriber_client.post(reverse("titration:dose-create", args=[via_form.pk]), dose_post(ago(0), "1"))
    prescriber_client.post(log_url(via_button), log_post(ago(0), "1"))

    def flags(patient):
        return sorted((f.kind, f.severity, f.message) for f in Flag.objects.filter(patient=patient))

    def stored(patient):
        entry = DoseEntry.objects.get(patient=patient, taken_on=ago(0))
        fields = ("dose_mg", "status", "formulation", "scheduled_dose_mg", "override_reason")
        position = {key: value for key, value in entry.course_after.items() if key != "plan"}  # each twin's own
        return {name: getattr(entry, name) for name in fields} | {"position": position, "on_plan": entry.plan_id}

    assert stored(via_form)["dose_mg"] == Decimal("1")
    assert stored(via_form) | {"on_plan": None} == stored(via_button) | {"on_plan": None}
    assert stored(via_button)["on_plan"] == via_button.plans.get(is_active=True).pk
    assert flags(via_form) == flags(via_button)


def test_staff_cannot_log_in_one_action(stepper, staff_client):
    response = staff_client.post(log_url(stepper), log_post(ago(0), "1"))
    assert response.status_code == 403
    assert not DoseEntry.objects.filter(taken_on=ago(0)).exists()


def test_another_clinic_cannot_log_in_one_action(outsider, stepper, outsider_client):
    with database_unchanged(outsider):
        assert outsider_client.post(log_url(stepper), log_post(ago(0), "1")).status_code == 404
    assert not DoseEntry.objects.filter(taken_on=ago(0)).exists()


def test_the_one_action_is_a_post(stepper, prescriber_client):
    assert prescriber_client.get(log_url(stepper)).status_code == 405


def test_a_dose_that_needs_a_confirmation_goes_to_the_prefilled_dose_form(
    clock, make_patient, prescriber, prescriber_client
):
    """Holding at 5 mg (above the LDN range, confirmed once): today's expected 5 mg needs a confirmation again."""
    patient = make_patient(given_name="Hol", family_name="Holder")
    plan_for(patient, prescriber, ago(10), starting="4", step="0.5", target="4.5")
    take(patient, prescriber, ago(10), ago(2), "4")
    services.dose_record(
        patient=patient, by=prescriber, taken_on=ago(1), dose_mg=Decimal("5"), confirmed=True, override_reason="agreed"
    )
    services.plan_state_set(patient=patient, by=prescriber, state="holding", reason="best-tolerated dose")
    assert "Log 5 mg taken today" in row(page(prescriber_client), patient)
    response = prescriber_client.post(log_url(patient), log_post(ago(0), "5"))
    assert response.status_code == 302
    assert response["Location"] == reverse("titration:dose-create", args=[patient.pk])
    assert not DoseEntry.objects.filter(patient=patient, taken_on=ago(0)).exists()
    form = prescriber_client.get(response["Location"]).content.decode()
    assert "5 mg for Hol Holder was not logged from the worklist." in form
    assert "5 mg is above the LDN range of 0.5–4.5 mg." in form
    assert re.search(r'name="dose_mg"[^>]*value="5"', form)  # the form is pre-filled with the expected dose
    # The dose form asks the same confirmation of the same dose.
    asked = prescriber_client.post(
        reverse("titration:dose-create", args=[patient.pk]), dose_post(ago(0), "5")
    ).content.decode()
    assert "5 mg is above the LDN range of 0.5–4.5 mg." in asked
    assert 'name="confirm_out_of_range"' in asked


def test_a_refused_dose_goes_to_the_dose_form_with_the_message(stepper, prescriber_client, prescriber):
    prescriber_client.post(log_url(stepper), log_post(ago(0), "1"))
    response = prescriber_client.post(log_url(stepper), log_post(ago(0), "1"), follow=True)  # a second click
    assert response.redirect_chain[-1][0] == reverse("titration:dose-create", args=[stepper.pk])
    assert rules.DUPLICATE_DAY in response.content.decode()
    assert DoseEntry.objects.filter(patient=stepper, taken_on=ago(0)).count() == 1


@pytest.mark.parametrize(
    "data",
    [
        log_post(datetime.date(2026, 3, 9), "1.5"),  # not the dose the button named: the expected dose changed
        log_post(datetime.date(2026, 3, 8), "1"),  # the page was opened yesterday
        {"taken_on": "2026-03-09", "dose_mg": "1,0"},
        {},
    ],
)
def test_a_dose_that_is_not_todays_expected_dose_goes_to_the_form_and_stores_nothing(stepper, prescriber_client, data):
    response = prescriber_client.post(log_url(stepper), data, follow=True)
    assert response.redirect_chain[-1][0] == reverse("titration:dose-create", args=[stepper.pk])
    assert worklist_views.EXPECTED_CHANGED in response.content.decode()
    assert not DoseEntry.objects.filter(patient=stepper, taken_on=ago(0)).exists()


def test_after_the_action_the_list_comes_back_at_the_next_row_with_its_focus(
    clock, make_patient, prescriber, prescriber_client
):
    first, second = (make_patient(given_name=n, family_name=f) for n, f in (("Al", "Able"), ("Bo", "Baker")))
    for patient in (first, second):
        plan_for(patient, prescriber, ago(3))
        take(patient, prescriber, ago(3), ago(1), "0.5")
    html = page(prescriber_client)
    assert f'<input type="hidden" name="next_patient" value="{second.pk}">' in row_html(html, first)
    response = prescriber_client.post(log_url(first), log_post(ago(0), "0.5", next_patient=str(second.pk)))
    assert response["Location"] == f"{reverse('titration:worklist')}?focus={second.pk}"
    after = prescriber_client.get(response["Location"]).content.decode()
    assert re.search(r"<button[^>]*autofocus>Log 0.5 mg", row_html(after, second))
    assert after.count("autofocus") == 1


def test_the_pages_script_gets_the_next_location_as_json(stepper, prescriber_client):
    response = prescriber_client.post(
        log_url(stepper), log_post(ago(0), "1", next_patient="7"), headers={"X-Requested-With": "fetch"}
    )
    assert response.json() == {"location": f"{reverse('titration:worklist')}?focus=7"}
    refused = prescriber_client.post(log_url(stepper), log_post(ago(0), "1"), headers={"X-Requested-With": "fetch"})
    assert refused.json() == {"location": reverse("titration:dose-create", args=[stepper.pk])}


def row_html(html: str, patient) -> str:
    match = re.search(rf'<tr id="row-{patient.pk}">(.*?)</tr>', html, re.S)
    assert match
    return match.group(1)


# --- cost ------------------------------------------------------------------------------------------------


def test_the_worklist_costs_the_same_queries_at_2_and_at_10_clinics(clock, prescriber, make_patient, prescriber_client):
    def add_clinic(n: int) -> None:
        clinic = Clinic.objects.create(name=f"Clinic {n}")
        Membership.objects.create(user=prescriber, clinic=clinic)
        due, stepper, slip = (make_patient(clinic=clinic) for _ in range(3))
        plan_for(due, prescriber, ago(3))
        take(due, prescriber, ago(3), ago(1), "0.5")
        plan_for(stepper, prescriber, ago(20))
        take(stepper, prescriber, ago(20), ago(4), "0.5")
        take(stepper, prescriber, ago(3), ago(1), None, status=DoseStatus.MISSED)
        take(slip, prescriber, ago(1), ago(1), "1.5")
        services.dose_record(
            patient=slip, by=prescriber, taken_on=ago(0), dose_mg=Decimal("15"), confirmed=True, override_reason="x"
        )

    def count() -> tuple[int, int]:
        client = client_for(prescriber)
        client.get(WORKLIST)  # the session's first request settles what it caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(WORKLIST)
        html = response.content.decode()
        return len(captured), int(re.search(r"(\d+) patients to see today", html).group(1))

    for n in range(2):
        add_clinic(n)
    at_two, rows_at_two = count()
    for n in range(2, 10):
        add_clinic(n)
    at_ten, rows_at_ten = count()
    assert (rows_at_two, rows_at_ten) == (6, 30)
    assert at_two == at_ten
    print(f"worklist queries: {at_two} at 2 clinics, {at_ten} at 10 clinics")


def test_viewing_the_worklist_is_in_the_access_log_with_how_many_patients_it_showed(
    clock, staff, staff_client, make_patient, prescriber
):
    from patients.models import AccessLog

    for name in ("Due", "Also"):
        patient = make_patient(given_name="Dee", family_name=name)
        plan_for(patient, prescriber, ago(3))
        take(patient, prescriber, ago(3), ago(1), "0.5")
    page(staff_client)
    [logged] = AccessLog.objects.filter(action=AccessLog.Action.WORKLIST)
    assert (logged.user, logged.patient, logged.result_count) == (staff, None, 2)


# --- pages ---------------------------------------------------------------------------------------------


def due_patients(make_patient, prescriber, count: int) -> list:
    """``count`` patients due a dose today, named so that they sort in the order made."""
    patients = []
    for number in range(count):
        patient = make_patient(given_name="Dee", family_name=f"Due{number:03d}")
        plan_for(patient, prescriber, ago(3))
        take(patient, prescriber, ago(3), ago(1), "0.5")
        patients.append(patient)
    return patients


def listed_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="row-(\d+)">', html)]


def test_a_long_worklist_is_paged_with_the_counts_of_every_page(
    clock, staff_client, make_patient, prescriber, monkeypatch
):
    from titration import worklist

    monkeypatch.setattr(worklist, "ROWS_PER_PAGE", 3)
    patients = due_patients(make_patient, prescriber, 7)

    first, third = page(staff_client), staff_client.get(WORKLIST, {"page": "3"}).content.decode()

    assert listed_ids(first) == [p.pk for p in patients[:3]]
    assert listed_ids(third) == [patients[6].pk]
    for html in (first, third):
        assert "7 patients to see today" in html
        assert "<strong>7</strong> patients due a dose today" in " ".join(html.split())
    assert "Page 1 of 3" in first and "?page=2" in first
    assert "Page 3 of 3" in third and "?page=2" in third
    assert listed_ids(staff_client.get(WORKLIST, {"page": "99"}).content.decode()) == [patients[6].pk]
    assert listed_ids(staff_client.get(WORKLIST, {"page": "x"}).content.decode()) == listed_ids(first)


def test_the_focus_opens_the_page_that_lists_it_and_the_last_row_of_a_page_leads_to_the_next(
    clock, prescriber_client, make_patient, prescriber, monkeypatch
):
    from titration import worklist

    monkeypatch.setattr(worklist, "ROWS_PER_PAGE", 3)
    patients = due_patients(make_patient, prescriber, 7)

    html = prescriber_client.get(WORKLIST, {"focus": str(patients[4].pk)}).content.decode()
    assert listed_ids(html) == [p.pk for p in patients[3:6]]
    assert re.search(rf'<tr id="row-{patients[4].pk}">.*?autofocus', html, re.S)
    # The page's last row hands the focus to the first row of the next page once it is logged.
    response = prescriber_client.post(
        log_url(patients[5]), log_post(timezone.localdate(), "0.5", next_patient=str(patients[6].pk))
    )
    assert response["Location"] == f"{WORKLIST}?focus={patients[6].pk}"
    assert f'name="next_patient" value="{patients[6].pk}"' in html
    # The logged patient left the list, so the focused one moved up to this page.
    after = prescriber_client.get(response["Location"]).content.decode()
    assert listed_ids(after) == [patients[3].pk, patients[4].pk, patients[6].pk]
    assert re.search(rf'<tr id="row-{patients[6].pk}">.*?autofocus', after, re.S)
    # An explicit page wins over the focus (the pages' links keep it in the address).
    paged = prescriber_client.get(WORKLIST, {"focus": str(patients[4].pk), "page": "1"}).content.decode()
    assert listed_ids(paged) == [p.pk for p in patients[:3]]
