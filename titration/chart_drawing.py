"""The dose–pain chart as SVG geometry: two panels on one time axis, drawn by a template, no script.

The dose panel shows the dose taken as a stepped line, the expected dose as a thin dashed line on top of it,
and the LDN range (0.5–4.5 mg) as a thin strip along the dose axis. The pain panel below shows the check-ins on
their own 0–10 scale. Markers (missed dose, flag, severe side effect, a dose above the axis) sit inside the
drawing's padding, so none is cut off. Every number is written as the ``dose`` filter writes it (ISMP: no
trailing zero), and every date as the app writes it ("1 Nov 2026").

The geometry is in viewBox units: the SVG scales to the width of a screen or of an A4 or Letter sheet.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from . import rules
from .chart import Chart, ChartDay
from .rules import format_number

WIDTH = 800
LEFT, RIGHT = 70, 44
DOSE_TOP, DOSE_HEIGHT = 34, 190
PAIN_TOP, PAIN_HEIGHT = DOSE_TOP + DOSE_HEIGHT + 34, 100
AXIS_LABELS_Y = PAIN_TOP + PAIN_HEIGHT + 22
HEIGHT = AXIS_LABELS_Y + 10
PLOT_WIDTH = WIDTH - LEFT - RIGHT
STRIP_WIDTH = 8
MAX_DATE_TICKS = 7
LABEL_HALF_WIDTH = 40  # about half the width of "30 Nov 2026" at the labels' size
PAIN_TICKS = (0, 2, 4, 6, 8, 10)


def day_label(day: datetime.date) -> str:
    return f"{day:%-d %b %Y}"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"

    @property
    def at(self) -> str:
        return _n(self.position)


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    title: str

    @property
    def cx(self) -> str:
        return _n(self.x)

    @property
    def cy(self) -> str:
        return _n(self.y)

    @property
    def cross(self) -> str:
        """The path of a cross centred on the marker."""
        return f"M{_n(self.x - 5)} {_n(self.y - 5)} l10 10 m0 -10 l-10 10"


@dataclass
class Drawing:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    dose_top: int = DOSE_TOP
    dose_bottom: int = DOSE_TOP + DOSE_HEIGHT
    pain_top: int = PAIN_TOP
    pain_bottom: int = PAIN_TOP + PAIN_HEIGHT
    axis_labels_y: int = AXIS_LABELS_Y
    dose_ticks: list[Tick] = field(default_factory=list)
    pain_ticks: list[Tick] = field(default_factory=list)
    date_ticks: list[Tick] = field(default_factory=list)
    strip: tuple[float, float, float, float] = (0, 0, 0, 0)  # x, y, width, height
    range_lines: list[Tick] = field(default_factory=list)
    dose_path: str = ""
    expected_path: str = ""
    pain_path: str = ""
    pain_points: list[Marker] = field(default_factory=list)
    missed: list[Marker] = field(default_factory=list)
    flagged: list[Marker] = field(default_factory=list)
    severe: list[Marker] = field(default_factory=list)
    beyond: list[Marker] = field(default_factory=list)
    beyond_labels: list[Tick] = field(default_factory=list)
    days: list[Marker] = field(default_factory=list)  # one hover area per day with data, its title the day
    slot: float = 0

    @property
    def tick_label_x(self) -> int:
        return self.left - 6

    @property
    def beyond_label_y(self) -> int:
        return self.dose_top - 24

    @property
    def days_height(self) -> int:
        return self.pain_bottom - self.dose_top

    @property
    def slot_width(self) -> str:
        return _n(self.slot)

    @property
    def strip_box(self) -> tuple[str, str, str, str]:
        x, y, width, height = self.strip
        return _n(x), _n(y), _n(width), _n(height)

    @property
    def hover_areas(self) -> SafeString:
        """Each day's hover area: a transparent ``rect`` over both panels, with the day as its title.

        Written in one pass: a 90-day chart has 90 of them, and five template variables each cost more than
        the rest of the chart.
        """
        return format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            ((day.cx, self.dose_top, self.slot_width, self.days_height, day.title) for day in self.days),
        )

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def dose_title_y(self) -> float:
        return (self.dose_top + self.dose_bottom) / 2

    @property
    def pain_title_y(self) -> float:
        return (self.pain_top + self.pain_bottom) / 2

    @property
    def triangle_points(self) -> list[tuple[Marker, str]]:
        return [(m, _polygon(m, [(0, -7), (7, 5), (-7, 5)])) for m in self.flagged]

    @property
    def diamond_points(self) -> list[tuple[Marker, str]]:
        return [(m, _polygon(m, [(0, -8), (8, 0), (0, 8), (-8, 0)])) for m in self.severe]

    @property
    def arrow_points(self) -> list[tuple[Marker, str]]:
        return [(m, _polygon(m, [(0, -9), (7, 3), (2, 3), (2, 9), (-2, 9), (-2, 3), (-7, 3)])) for m in self.beyond]


def _polygon(marker: Marker, offsets: list[tuple[int, int]]) -> str:
    return " ".join(f"{_n(marker.x + dx)},{_n(marker.y + dy)}" for dx, dy in offsets)


def _n(value: float) -> str:
    """A coordinate, short: at most one decimal, no trailing zero."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def dose_tick_step(top: Decimal) -> int:
    if top <= 8:
        return 1
    if top <= 20:
        return 2
    return 10


def draw(chart: Chart) -> Drawing:
    drawing = Drawing()
    count = max(len(chart.slots), 1)
    slot = PLOT_WIDTH / count
    drawing.slot = slot
    top = chart.axis_top_mg

    def x_of(index: int) -> float:
        return LEFT + (index + 0.5) * slot

    def y_dose(dose: Decimal) -> float:
        return DOSE_TOP + DOSE_HEIGHT * (1 - float(min(dose, top) / top))

    def y_pain(pain: int | Decimal) -> float:
        return PAIN_TOP + PAIN_HEIGHT * (1 - float(pain) / 10)

    step = dose_tick_step(top)
    drawing.dose_ticks = [
        Tick(y_dose(Decimal(value)), rules.format_dose(Decimal(value))) for value in range(0, int(top) + 1, step)
    ]
    drawing.pain_ticks = [Tick(y_pain(value), str(value)) for value in PAIN_TICKS]
    low, high = y_dose(rules.LDN_MAX_MG), y_dose(rules.LDN_MIN_MG)
    drawing.strip = (LEFT + 1, low, STRIP_WIDTH, high - low)
    drawing.range_lines = [
        Tick(low, rules.format_dose(rules.LDN_MAX_MG)),
        Tick(high, rules.format_dose(rules.LDN_MIN_MG)),
    ]
    slots = chart.slots
    drawing.date_ticks = _date_ticks(slots, x_of)
    drawing.dose_path = _step_path([d.dose_mg for d in slots], x_of, y_dose, slot)
    drawing.expected_path = _step_path([d.scheduled_mg for d in slots], x_of, y_dose, slot)

    pain_points = [(x_of(i), y_pain(d.pain), d) for i, d in enumerate(slots) if d.pain is not None]
    drawing.pain_path = " ".join(f"{'M' if n == 0 else 'L'}{_n(x)} {_n(y)}" for n, (x, y, _) in enumerate(pain_points))
    drawing.pain_points = [Marker(x, y, f"{d.label}: {_pain_text(d)}") for x, y, d in pain_points]
    for index, day in enumerate(slots):
        x = x_of(index)
        peak = day.peak_mg if day.peak_mg is not None else day.dose_mg
        if day.missed:
            missed = f"{day.missed_count} doses missed" if day.missed_count > 1 else "dose missed"
            drawing.missed.append(Marker(x, DOSE_TOP + DOSE_HEIGHT - 8, f"{day.label}: {missed}"))
        if day.dose_mg is not None and day.flagged:
            if day.last_day is None:
                text = f"{day.label}: {rules.format_dose(day.dose_mg)}, flagged: {', '.join(day.flagged)}"
            else:
                text = f"{day.label}, flagged: {'; '.join(day.flagged)}"
            flagged = day.flagged_mg if day.flagged_mg is not None else day.dose_mg
            # Above a capped dose the arrow stands at the top: the flag goes just under the cap instead.
            y = y_dose(flagged) - 14 if flagged <= top else DOSE_TOP + 14
            drawing.flagged.append(Marker(x, y, text))
        if peak is not None and peak > top:
            text = f"{day.label}: {rules.format_dose(peak)}, above the chart's axis"
            drawing.beyond.append(Marker(x, DOSE_TOP - 12, text))
            anchor = "end" if x + 30 > WIDTH else "start" if x - 30 < 0 else "middle"
            drawing.beyond_labels.append(Tick(x, rules.format_dose(peak), anchor))
        if day.severe_effects:
            y = y_pain(day.pain) if day.pain is not None else PAIN_TOP
            effects = ", ".join(effect.lower() for effect in day.severe_effects)
            drawing.severe.append(Marker(x, y, f"{day.label}: severe {effects}"))
        if day.dose_mg is not None or day.missed or day.pain is not None or day.scheduled_mg is not None:
            drawing.days.append(Marker(x - slot / 2, DOSE_TOP, _day_title(day)))
    return drawing


def _pain_text(day: ChartDay) -> str:
    if day.pain_count > 1:
        return f"pain {format_number(Decimal(day.pain or 0))} out of 10 (mean of {day.pain_count} check-ins)"
    return f"pain {format_number(Decimal(day.pain or 0))} out of 10"


def _day_title(day: ChartDay) -> str:
    parts = [day.label]
    if day.last_day is not None:  # a slot of several days: what was held most days, and its marks
        if day.dose_mg is not None:
            parts.append(f"mostly taken {rules.format_dose(day.dose_mg)}")
        if day.missed:
            parts.append(f"{day.missed_count} missed")
    elif day.missed:
        parts.append("dose missed")
    elif day.dose_mg is not None:
        parts.append(f"taken {day.dose_text or rules.format_dose(day.dose_mg)}")
    if day.scheduled_mg is not None:
        parts.append(f"{'mostly ' if day.last_day is not None else ''}expected {rules.format_dose(day.scheduled_mg)}")
    if day.pain is not None:
        parts.append(_pain_text(day))
    parts.extend(f"flag: {kind}" for kind in day.flagged)
    parts.extend(f"severe {effect.lower()}" for effect in day.severe_effects)
    return "; ".join(parts)


def _step_path(
    values: list[Decimal | None], x_of: Callable[[int], float], y_of: Callable[[Decimal], float], slot: float
) -> str:
    """A stepped line: each day a level across its own slot, joined to the next day's, broken at empty days."""
    parts: list[str] = []
    previous: Decimal | None = None
    for index, value in enumerate(values):
        if value is None:
            previous = None
            continue
        left, right, y = x_of(index) - slot / 2, x_of(index) + slot / 2, y_of(value)
        parts.append(f"{'L' if previous is not None else 'M'}{_n(left)} {_n(y)}")
        parts.append(f"L{_n(right)} {_n(y)}")
        previous = value
    return " ".join(parts)


def _date_ticks(days: list[ChartDay], x_of: Callable[[int], float]) -> list[Tick]:
    """Up to seven dates, evenly spread, always ending on the last day."""
    if not days:
        return []
    every = max(1, -(-len(days) // MAX_DATE_TICKS))
    indexes = list(range(len(days) - 1, -1, -every))[::-1]
    ticks = []
    for index in indexes:
        x = x_of(index)
        anchor = "end" if x + LABEL_HALF_WIDTH > WIDTH else "start" if x - LABEL_HALF_WIDTH < 0 else "middle"
        ticks.append(Tick(x, day_label(days[index].last_day or days[index].day), anchor))
    return ticks
