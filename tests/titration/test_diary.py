"""The diary grid through real HTTP: a week in one POST, refusals in place, all or nothing, roles and ranges."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils.html import escape

from patients.models import AccessLog
from tests.dbstate import database_unchanged
from titration import diary, rules, services
from titration.models import DoseEntry, Flag

from .conftest import MONDAY, plan_for, take

pytestmark = pytest.mark.django_db

TODAY = MONDAY.date()  # 9 Mar 2026


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MONDAY, tick=False) as traveller:
        yield traveller


def day(n: int) -> datetime.date:
    """``n`` days before today."""
    return TODAY - datetime.timedelta(days=n)


def url(patient, query: str = "") -> str:
    return f"/patients/{patient.pk}/doses/diary/{query}"


@pytest.fixture
def planned(patient, prescriber):
    """0.5 mg, +0.5 mg every 7 days, from 20 days ago: 0.5 mg taken for a week, then 1 mg from 11 days ago
    (the step was due 13 days ago) to a week ago. The last 7 days are not logged: the next step falls due 4 days
    ago, 7 days after the patient reached 1 mg."""
    plan_for(patient, prescriber, day(20))
    take(patient, prescriber, day(20), day(14), "0.5")
    take(patient, prescriber, day(11), day(7), "1")
    return patient


def week():
    """The entries of the grid's default week (the last 7 days)."""
    return DoseEntry.objects.filter(taken_on__gte=day(6))


def grid_post(rows: list[tuple[datetime.date, str, str]], **extra: str) -> dict[str, str]:
    """The POST of a grid: (day, dose, status) for each open row, in order, as the page sends it."""
    data = {
        "form-TOTAL_FORMS": str(len(rows)),
        "form-INITIAL_FORMS": str(len(rows)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "14",
    }
    for n, (on, dose, status) in enumerate(rows):
        data |= {f"form-{n}-taken_on": on.isoformat(), f"form-{n}-dose_mg": dose, f"form-{n}-status": status}
        data[f"form-{n}-notes"] = ""
    return data | extra


def page_rows(response) -> list[tuple[datetime.date, str, str]]:
    """The grid as shown: the open rows' day, pre-filled dose and status."""
    rows = []
    for row in response.context["rows"]:
        if row.form is not None:
            dose = row.form["dose_mg"].value()
            rows.append((row.day, "" if dose is None else str(dose), str(row.form["status"].value())))
    return rows


def flags_of(patient) -> list[tuple[datetime.date, str, int, str]]:
    return sorted(
        (f.dose_entry.taken_on, f.kind, f.severity, f.message)
        for f in Flag.objects.filter(patient=patient, acknowledged_at__isnull=True).select_related("dose_entry")
    )


WEEK = [
    # A week that raises flags: a run off schedule, a missed run that is one adherence warning, a step taken.
    (6, "1", "taken"),
    (5, "1.5", "taken"),
    (4, "", "missed"),
    (3, "", "missed"),
    (2, "", "missed"),
    (1, "1.5", "taken"),
    (0, "1", "taken"),
]


def test_the_grid_shows_the_last_seven_days_prefilled_with_the_expected_dose_taken(prescriber_client, planned):
    response = prescriber_client.get(url(planned))
    assert response.status_code == 200
    rows = page_rows(response)
    assert [r[0] for r in rows] == [day(n) for n in range(6, -1, -1)]
    assert [dose for _, dose, _ in rows] == ["1", "1", "1.5", "1.5", "1.5", "1.5", "1.5"]
    assert all(status == "taken" for _, _, status in rows)
    assert AccessLog.objects.filter(patient=planned, action=AccessLog.Action.DOSE_FORM).count() == 1


def test_a_week_saved_in_one_post_gives_the_entries_and_flags_of_one_by_one_entries(
    prescriber_client, planned, make_patient, prescriber
):
    response = prescriber_client.post(url(planned), grid_post([(day(n), dose, st) for n, dose, st in WEEK]))
    assert response.status_code == 302, response.context and response.context["problem"]
    assert week().filter(patient=planned).count() == 7
    page = prescriber_client.get(response["Location"]).content.decode()
    assert "Diary saved: 7 days recorded (4 taken, 3 missed)." in page

    twin = make_patient(mrn="A-200")
    plan_for(twin, prescriber, day(20))
    take(twin, prescriber, day(20), day(14), "0.5")
    take(twin, prescriber, day(11), day(7), "1")
    for n, dose, status in WEEK:
        form = prescriber_client.post(
            reverse("titration:dose-create", args=[twin.pk]),
            {"taken_on": day(n).isoformat(), "dose_mg": dose, "formulation": "capsule", "status": status},
        )
        assert form.status_code == 302
    assert flags_of(planned) == flags_of(twin)
    assert any(kind == rules.FlagKind.ADHERENCE for _, kind, _, _ in flags_of(planned))
    mine = week().filter(patient=planned).order_by("taken_on")
    theirs = week().filter(patient=twin).order_by("taken_on")
    assert [(e.taken_on, e.dose_mg, e.status, e.scheduled_dose_mg) for e in mine] == [
        (e.taken_on, e.dose_mg, e.status, e.scheduled_dose_mg) for e in theirs
    ]


def test_a_refused_row_is_shown_in_place_and_nothing_is_saved_until_it_is_fixed(prescriber_client, planned):
    rows = [(day(n), "1", "taken") for n in range(6, -1, -1)]
    rows[3] = (day(3), "1,5", "taken")
    response = prescriber_client.post(url(planned), grid_post(rows))
    assert response.status_code == 200
    assert not week().exists()
    assert response.context["problem"] == diary.ROWS_REFUSED
    shown = {row.day: row.form for row in response.context["rows"]}
    assert shown[day(3)].errors["dose_mg"] == [rules.DECIMAL_COMMA]
    assert all(not form.errors for on, form in shown.items() if on != day(3))
    html = response.content.decode()
    assert 'value="1,5"' in html  # what was typed stays in its row
    assert html.index(rules.DECIMAL_COMMA) > html.index(f'id="day-{day(3).isoformat()}"')
    assert html.index(rules.DECIMAL_COMMA) < html.index(f'id="day-{day(2).isoformat()}"')

    rows[3] = (day(3), "1.5", "taken")
    response = prescriber_client.post(url(planned), grid_post(rows))
    assert response.status_code == 302
    assert week().count() == 7
    assert DoseEntry.objects.get(taken_on=day(3)).dose_mg == Decimal("1.5")


def test_a_row_out_of_range_needs_a_confirmation_with_a_reason_and_holds_back_every_row(prescriber_client, planned):
    rows = [(day(n), "1", "taken") for n in range(6, -1, -1)]
    rows[5] = (day(1), "6", "taken")
    response = prescriber_client.post(url(planned), grid_post(rows))
    assert response.status_code == 200
    assert not week().exists()
    form = next(row.form for row in response.context["rows"] if row.day == day(1))
    assert form.needs_confirmation
    assert "6 mg is above the LDN range of 0.5–4.5 mg." in form.errors["confirm_out_of_range"][0]
    html = response.content.decode()
    assert 'name="form-5-confirm_out_of_range"' in html and 'name="form-5-override_reason"' in html
    assert 'name="form-4-confirm_out_of_range"' not in html

    # Ticked without a reason: still nothing saved, and the reason is asked for.
    confirmed = grid_post(rows, **{"form-5-confirm_out_of_range": "on", "form-5-confirmed_dose_mg": "6"})
    response = prescriber_client.post(url(planned), confirmed)
    assert not week().exists()
    form = next(row.form for row in response.context["rows"] if row.day == day(1))
    assert form.errors["override_reason"] == [services.OVERRIDE_REASON_REQUIRED]

    confirmed["form-5-override_reason"] = "Patient took two capsules by mistake"
    response = prescriber_client.post(url(planned), confirmed)
    assert response.status_code == 302
    assert week().count() == 7
    assert DoseEntry.objects.get(taken_on=day(1)).override_reason == "Patient took two capsules by mistake"


def test_logged_days_are_read_only_and_a_post_cannot_change_them(prescriber_client, planned, prescriber):
    take(planned, prescriber, day(4), day(3), "1")
    response = prescriber_client.get(url(planned))
    assert [r[0] for r in page_rows(response)] == [day(6), day(5), day(2), day(1), day(0)]
    html = response.content.decode()
    assert "Already logged · Taken: 1 mg" in html
    assert 'name="form-5-dose_mg"' not in html

    # A forged POST that sends the logged days as rows: refused as a stale grid, nothing changes.
    forged = grid_post([(day(n), "2", "taken") for n in range(6, -1, -1)])
    response = prescriber_client.post(url(planned), forged)
    assert response.status_code == 200
    assert response.context["problem"] == diary.DIARY_CHANGED
    assert sorted(week().values_list("taken_on", "dose_mg")) == [(day(4), Decimal(1)), (day(3), Decimal(1))]

    # The grid's own rows save; the logged days stay as they were.
    open_rows = [(on, "1", "taken") for on, _, _ in page_rows(prescriber_client.get(url(planned)))]
    assert prescriber_client.post(url(planned), grid_post(open_rows)).status_code == 302
    assert week().count() == 7
    assert DoseEntry.objects.get(taken_on=day(4)).dose_mg == Decimal(1)


def test_a_row_with_no_dose_is_left_unlogged_and_an_empty_grid_saves_nothing(prescriber_client, planned):
    rows = [(day(n), "", "taken") for n in range(6, -1, -1)]
    response = prescriber_client.post(url(planned), grid_post(rows))
    assert response.status_code == 200
    assert response.context["problem"] == diary.NOTHING_TO_SAVE
    rows[0] = (day(6), "1", "taken")
    assert prescriber_client.post(url(planned), grid_post(rows)).status_code == 302
    assert list(week().values_list("taken_on", flat=True)) == [day(6)]


def test_the_expected_dose_of_each_row_follows_the_rows_before_it_as_entered(prescriber_client, planned):
    # The first day entered at 1.5 mg (a step taken early), the next refused: the next expects 1.5 mg.
    rows = [(day(n), "", "taken") for n in range(6, -1, -1)]
    rows[0] = (day(6), "1.5", "taken")
    rows[1] = (day(5), "abc", "taken")
    response = prescriber_client.post(url(planned), grid_post(rows))
    expected = {row.day: row.expected for row in response.context["rows"]}
    assert expected[day(6)] == Decimal("1")
    assert expected[day(5)] == Decimal("1.5")


def test_a_start_and_a_number_of_days_choose_the_grid(prescriber_client, planned):
    response = prescriber_client.get(url(planned, f"?start={day(13).isoformat()}&days=14"))
    assert response.status_code == 200
    assert [row.day for row in response.context["rows"]] == [day(n) for n in range(13, -1, -1)]
    assert [r[0] for r in page_rows(response)] == [day(13), day(12), *(day(n) for n in range(6, -1, -1))]
    response = prescriber_client.get(url(planned, f"?start={day(20).isoformat()}"))
    assert [row.day for row in response.context["rows"]] == [day(n) for n in range(20, 13, -1)]
    assert not page_rows(response)
    assert "Every day shown is already logged." in response.content.decode()
    response = prescriber_client.get(url(planned, f"?start={day(2).isoformat()}"))
    assert [r[0] for r in page_rows(response)] == [day(2), day(1), day(0)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (f"?start={(TODAY - datetime.timedelta(days=14)).isoformat()}&days=15", diary.TOO_MANY_DAYS),
        ("?days=15", diary.TOO_MANY_DAYS),
        ("?days=0", diary.TOO_FEW_DAYS),
        ("?days=many", f"Give the number of days, 1 to {diary.DIARY_MAX_DAYS}."),
        (f"?start={(TODAY + datetime.timedelta(days=1)).isoformat()}", diary.START_IN_FUTURE),
        (f"?start={(TODAY - datetime.timedelta(days=2)).isoformat()}&days=7", diary.REACHES_FUTURE),
        ("?start=28/11/2026", diary.BAD_START),
        ("?start=2026-02-30", diary.BAD_START),
        ("?start=1970-01-01", diary.START_BEFORE_BIRTH),
    ],
)
def test_a_grid_out_of_bounds_is_refused_with_a_message(prescriber_client, planned, query, message):
    response = prescriber_client.get(url(planned, query))
    assert response.status_code == 400
    assert escape(message) in response.content.decode()
    response = prescriber_client.post(url(planned, query), grid_post([(TODAY, "1", "taken")]))
    assert response.status_code == 400
    assert not week().exists()


def test_a_forged_future_row_is_refused_and_nothing_is_saved(prescriber_client, planned):
    rows = [(day(n), "1", "taken") for n in range(6, -1, -1)]
    rows[6] = (TODAY + datetime.timedelta(days=1), "1", "taken")
    response = prescriber_client.post(url(planned), grid_post(rows))
    assert response.context["problem"] == diary.DIARY_CHANGED
    assert not week().exists()


def test_staff_are_refused_and_an_outsider_sees_no_patient(outsider, staff_client, outsider_client, planned):
    data = grid_post([(day(n), "1", "taken") for n in range(6, -1, -1)])
    assert staff_client.get(url(planned)).status_code == 403
    assert staff_client.post(url(planned), data).status_code == 403
    assert outsider_client.get(url(planned)).status_code == 404
    with database_unchanged(outsider):
        assert outsider_client.post(url(planned), data).status_code == 404
    assert not week().exists()


def test_the_service_rolls_every_row_back_when_one_is_refused(planned, prescriber):
    rows = [
        {"taken_on": day(2), "dose_mg": Decimal("1"), "status": "taken"},
        {"taken_on": day(1), "dose_mg": Decimal("60"), "status": "taken"},
        {"taken_on": day(0), "dose_mg": Decimal("1"), "status": "taken"},
    ]
    with pytest.raises(diary.DiaryRefused) as refused:
        diary.diary_record(patient=planned, by=prescriber, rows=rows)
    assert list(refused.value.errors) == [1]
    assert refused.value.errors[1].message == rules.ABOVE_HARD_MAX
    assert not week().exists()
    assert not Flag.objects.filter(dose_entry__taken_on__gte=day(6)).exists()


def test_the_patient_page_and_the_dose_form_link_to_the_diary(prescriber_client, staff_client, planned):
    link = f'href="/patients/{planned.pk}/doses/diary/"'
    assert link in prescriber_client.get(reverse("titration:patient", args=[planned.pk])).content.decode()
    assert link in prescriber_client.get(reverse("titration:dose-create", args=[planned.pk])).content.decode()
    assert link not in staff_client.get(reverse("titration:patient", args=[planned.pk])).content.decode()


def test_a_liquid_plan_takes_the_week_in_ml_as_the_dose_form_does(prescriber_client, patient, prescriber):
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=day(20),
        starting_dose_mg=Decimal("0.5"),
        step_mg=Decimal("0.5"),
        step_interval_days=7,
        target_dose_mg=Decimal("4.5"),
        formulation="liquid",
        liquid_concentration_mg_per_ml=Decimal("0.5"),
    )
    take(patient, prescriber, day(20), day(14), "0.5")
    take(patient, prescriber, day(11), day(7), "1")
    response = prescriber_client.get(url(patient))
    assert "Or mL (of 0.5 mg/mL)" in response.content.decode()
    first = next(row.form for row in response.context["rows"] if row.form is not None)
    assert (first["dose_ml"].value(), first["dose_mg"].value()) == ("2", None)  # 1 mg expected: 2 mL

    data = grid_post([(day(n), "", "taken") for n in range(6, -1, -1)])
    data |= {f"form-{n}-dose_ml": "3" for n in range(7)}
    data["form-6-dose_ml"] = "3,5"
    response = prescriber_client.post(url(patient), data)
    assert not week().exists()
    last = next(row.form for row in response.context["rows"] if row.day == TODAY)
    assert last.errors["dose_ml"] == ["Use a decimal point, not a comma: write 2.5, not 2,5."]

    data["form-6-dose_ml"] = "3"
    assert prescriber_client.post(url(patient), data).status_code == 302
    assert set(week().values_list("dose_mg", "dose_ml")) == {(Decimal("1.5"), Decimal("3"))}


def test_an_empty_post_is_a_stale_grid_not_an_error(prescriber_client, planned):
    response = prescriber_client.post(url(planned), {})
    assert response.status_code == 200
    assert response.context["problem"] == diary.DIARY_CHANGED
    assert not week().exists()
