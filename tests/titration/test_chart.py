import datetime
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from titration import patient_reads, selectors, services
from titration.chart import Chart, ChartDay, axis_top, chart_for, parse_period
from titration.chart_drawing import HEIGHT, WIDTH, draw
from titration.models import CheckIn, DoseEntry, DoseStatus

from .conftest import plan_for

pytestmark = pytest.mark.django_db


def ago(today, n):
    return today - datetime.timedelta(days=n)


@pytest.fixture
def history(patient, prescriber, staff, today):
    """A plan changed 5 days ago, a gap, a voided entry, a missed dose, a flagged dose and check-ins."""
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 20),
        starting_dose_mg=Decimal("1"),
        step_mg=Decimal("0"),
        step_interval_days=7,
        target_dose_mg=Decimal("1"),
    )
    for n in (10, 9, 8):
        services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, n), dose_mg=Decimal("1"))
    wrong, _ = services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 7), dose_mg=Decimal("2"))
    services.dose_void(entry=wrong, by=prescriber, reason="typo")
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 6), dose_mg=None, status=DoseStatus.MISSED)
    # ago 5: nothing recorded (a gap)
    services.plan_set(
        patient=patient,
        by=prescriber,
        start_date=ago(today, 4),
        starting_dose_mg=Decimal("1.5"),
        step_mg=Decimal("1.5"),
        step_interval_days=14,
        target_dose_mg=Decimal("4.5"),
    )
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, 4), dose_mg=Decimal("1.5"))
    services.dose_record(
        patient=patient,
        by=prescriber,
        taken_on=ago(today, 3),
        dose_mg=Decimal("15"),
        confirmed=True,
        override_reason="x",
    )
    services.checkin_record(patient=patient, by=staff, checked_on=ago(today, 10), pain_score=7)
    services.checkin_record(
        patient=patient, by=staff, checked_on=ago(today, 3), pain_score=5, side_effects=[("nausea", "severe", "")]
    )
    return patient


def test_the_chart_series_follow_the_history(history, today):
    plans = list(history.plans.order_by("start_date", "created_at"))
    chart = chart_for(history, plans, "30", today)
    days = {d.day: d for d in chart.days}
    assert len(chart.days) == 30 and chart.end == today
    assert days[ago(today, 8)].dose_mg == Decimal("1")
    assert days[ago(today, 7)].dose_mg is None  # voided entries are not plotted
    assert days[ago(today, 6)].missed
    assert days[ago(today, 5)].dose_mg is None and not days[ago(today, 5)].missed  # the gap
    assert set(days[ago(today, 3)].flagged) == {"Tenfold change", "Outside LDN range"}
    assert days[ago(today, 6)].scheduled_mg == Decimal("1")  # the first plan
    assert days[ago(today, 4)].scheduled_mg == Decimal("1.5")  # the plan change
    assert days[ago(today, 25)].scheduled_mg is None  # before any plan
    assert days[ago(today, 10)].pain == 7
    assert days[ago(today, 3)].severe_effects == ["Nausea / GI discomfort"]
    assert "2 pain scores, from 7 to 5 out of 10" in chart.summary()
    notable = [d.day for d in chart.notable_days]
    assert ago(today, 6) in notable and ago(today, 3) in notable and ago(today, 9) not in notable


def test_the_expected_line_resumed_from_the_stored_positions_is_the_course_walked_from_the_first_dose(history, today):
    plans = list(history.plans.order_by("start_date", "created_at"))
    chart = chart_for(history, plans, "all", today)
    walked = selectors.expected_doses(history, plans, [d.day for d in chart.days])
    assert {d.day: d.scheduled_mg for d in chart.days} == walked
    assert walked[ago(today, 5)] is not None  # a day without an entry, resumed from the one before


def test_the_expected_line_after_the_last_entry_resumes_where_the_patient_stands(patient, prescriber, today):
    plan_for(patient, prescriber, ago(today, 20))
    plans = list(patient.plans.all())
    for n in range(20, 2, -1):  # every expected dose taken, up to 3 days ago
        dose = selectors.expected_doses(patient, plans, [ago(today, n)])[ago(today, n)]
        services.dose_record(patient=patient, by=prescriber, taken_on=ago(today, n), dose_mg=dose)
    chart = chart_for(patient, plans, "30", today)
    walked = selectors.expected_doses(patient, plans, [d.day for d in chart.days])
    assert {d.day: d.scheduled_mg for d in chart.days} == walked
    assert walked[today] == Decimal("1.5")


@pytest.mark.parametrize("page", [1, 5])  # 5: past the last page, whose days are read again
def test_the_listed_entries_and_check_ins_are_read_whole(history, today, page):
    reads = patient_reads.read_page(history, today, chart_days=30, history_page=page)
    days = patient_reads.history(reads).days
    entries, checkins = [e for d in days for e in d.entries], [c for d in days for c in d.checkins]
    for model, listed in ((DoseEntry, entries), (CheckIn, checkins)):
        fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        stored = {row[0]: row[1:] for row in model.objects.filter(patient=history).values_list("pk", *fields)}
        assert len(listed) == len(stored)
        assert all(tuple(getattr(record, name) for name in fields) == stored[record.pk] for record in listed)
    assert any(entry.course_after for entry in entries)


def test_period_all_starts_at_the_first_record(history, today):
    plans = list(history.plans.all())
    assert chart_for(history, plans, "all", today).start == ago(today, 20)


@pytest.mark.parametrize(
    ("raw", "period"), [("30", "30"), ("365", "365"), ("all", "all"), ("7", "90"), (None, "90"), ("'; drop", "90")]
)
def test_period_allowlist(raw, period):
    assert parse_period(raw) == period


def test_the_patient_page_draws_the_chart_as_svg_with_its_text_alternative(staff_client, history):
    page = staff_client.get(f"{reverse('titration:patient', args=[history.pk])}?period=30").content.decode()
    assert '<svg id="dose-pain-chart"' in page and 'role="img"' in page
    assert "Chart data as a table" in page
    assert "chart.umd.min.js" not in page and "<script>" not in page  # no chart script, no inline script
    assert "Severe nausea / gi discomfort." in page
    assert re.search(r'class="tick-label dose-tick"[^>]*>1 mg</text>', page)
    assert not re.search(r">\d+\.0( mg)?</text>", page)  # no trailing zero on any label
    assert 'class="beyond-label"' in page and ">15 mg</text>" in page


def test_each_day_with_data_has_a_hover_area_over_both_panels_titled_with_the_day(staff_client, history, today):
    page = staff_client.get(f"{reverse('titration:patient', args=[history.pk])}?period=30").content.decode()
    areas = re.search(r'<g class="chart-days" fill="transparent">(.*?)</g>', page).group(1)
    rects = re.findall(r'<rect x="([\d.]+)" y="34" width="([\d.]+)" height="324"><title>([^<]*)</title></rect>', areas)
    chart = chart_for(history, list(history.plans.all()), "30", today)
    assert [title for _, _, title in rects] == [d.title for d in draw(chart).days]
    assert {width for _, width, _ in rects} == {"22.9"}  # 686 / 30
    assert f"{ago(today, 3):%-d %b %Y}; taken 15 mg; expected 1.5 mg; pain 5 out of 10" in areas


def test_the_dose_axis_is_capped_whatever_the_doses(history, today):
    chart = chart_for(history, list(history.plans.all()), "30", today)
    assert chart.axis_top_mg == Decimal("6")  # the plans' targets are 1 mg and 4.5 mg
    drawing = draw(chart)
    assert [t.label for t in drawing.dose_ticks] == ["0 mg", "1 mg", "2 mg", "3 mg", "4 mg", "5 mg", "6 mg"]
    assert [t.label for t in drawing.pain_ticks] == ["0", "2", "4", "6", "8", "10"]
    assert [label.label for label in drawing.beyond_labels] == ["15 mg"]
    (beyond,) = drawing.beyond
    assert beyond.title == f"{ago(today, 3):%-d %b %Y}: 15 mg, above the chart's axis"
    assert beyond.y < drawing.dose_top  # at the top of the dose panel, above the capped line
    assert "1 dose above the chart's 6 mg axis, marked at its top (15 mg on " in chart.summary()


@pytest.mark.parametrize(
    ("targets", "top"),
    [
        ([], "6"),
        ([Decimal("4.5")], "6"),
        ([Decimal("3")], "6"),
        ([Decimal("4.5"), Decimal("8")], "9"),
        ([Decimal("5")], "6"),
    ],
)
def test_the_axis_top_is_a_whole_mg_at_least_1_mg_above_the_range_or_the_highest_target(targets, top):
    assert axis_top(targets) == Decimal(top)


def test_dates_are_written_as_the_app_writes_them_and_the_last_is_today(history, today):
    drawing = draw(chart_for(history, list(history.plans.all()), "90", today))
    labels = [t.label for t in drawing.date_ticks]
    assert 2 <= len(labels) <= 7
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", label) for label in labels), labels
    assert labels[-1] == f"{today:%-d %b %Y}"
    last = drawing.date_ticks[-1]
    assert last.anchor == "end" or last.position + 40 <= WIDTH  # the last label does not run off the drawing


def test_no_marker_or_label_is_cut_off(history, today):
    drawing = draw(chart_for(history, list(history.plans.all()), "30", today))
    markers = [*drawing.missed, *drawing.flagged, *drawing.severe, *drawing.beyond, *drawing.pain_points]
    assert drawing.missed and drawing.flagged and drawing.severe and drawing.beyond
    for marker in markers:
        assert 10 <= marker.x <= WIDTH - 10 and 10 <= marker.y <= HEIGHT - 10, marker
    assert drawing.beyond_label_y > 0
    # The missed cross sits inside the dose panel, above its axis.
    assert all(m.y + 5 < drawing.dose_bottom for m in drawing.missed)


def test_the_expected_line_is_drawn_apart_from_the_dose_line(history, today):
    drawing = draw(chart_for(history, list(history.plans.all()), "30", today))
    assert drawing.expected_path and drawing.dose_path and drawing.expected_path != drawing.dose_path
    assert drawing.dose_path.count("M") == 2  # broken from the voided day through the missed day and the gap


def _chart(doses: int, pains: int) -> Chart:
    start = datetime.date(2026, 11, 1)
    days = [
        ChartDay(
            start + datetime.timedelta(days=i),
            dose_mg=Decimal("1") if i < doses else None,
            pain=5 if i < pains else None,
        )
        for i in range(5)
    ]
    return Chart(period="30", start=start, end=days[-1].day, days=days)


@pytest.mark.parametrize(
    ("doses", "pains", "text"),
    [
        (1, 1, "From 1 Nov 2026 to 5 Nov 2026: 1 dose taken, 0 missed, dose from 1 mg to 1 mg, 1 pain score, from 5"),
        (
            2,
            2,
            ": 2 doses taken, 0 missed, dose from 1 mg to 1 mg, 2 pain scores, from 5 to 5 out of 10, 0 flagged doses",
        ),
        (0, 0, ": 0 doses taken, 0 missed, no pain scores, 0 flagged doses, 0 days with a severe side effect."),
    ],
)
def test_the_summary_speaks_in_right_plurals(doses, pains, text):
    assert text in _chart(doses, pains).summary()


def test_the_table_of_notable_days_writes_each_cell_as_the_page_shows_it():
    slot = ChartDay(
        datetime.date(2026, 3, 2),
        last_day=datetime.date(2026, 3, 8),
        dose_mg=Decimal("1.50"),
        scheduled_mg=Decimal("2.0"),
        missed=True,
        missed_count=2,
        flagged=["1.5 mg on 3 Mar 2026: Tenfold change"],
        pain=Decimal("5.5"),
        severe_effects=["Nausea / GI discomfort"],
    )
    missed = ChartDay(datetime.date(2026, 3, 9), missed=True)
    chart = Chart(period="all", start=slot.day, end=missed.day, days=[slot, missed])
    assert [(r.label, r.dose, r.expected, r.pain, r.events) for r in chart.table] == [
        (
            "2 Mar 2026 – 8 Mar 2026",
            "1.5 mg",
            "2 mg",
            "5.5",
            "2 missed. Flag: 1.5 mg on 3 Mar 2026: Tenfold change. Severe nausea / gi discomfort. ",
        ),
        ("9 Mar 2026", "missed", "—", "—", ""),
    ]
