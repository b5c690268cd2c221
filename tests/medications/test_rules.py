"""The pure rules: the contraindication message, the safety warnings on their edges, the dates."""

from __future__ import annotations

import datetime

import pytest

from medications import rules
from medications.rules import SafetyValues, SafetyWarningKind

TRAMADOL = rules.OpioidReference("tramadol", "N02AX02", True, "opioid", ("Ultram",))
CODEINE = rules.OpioidReference("codeine", "R05DA04", True, "opioid", ("co-codamol",))
LOPERAMIDE = rules.OpioidReference("loperamide", "A07DA03", False, "peripheral", ("Imodium",))
REFERENCES = [TRAMADOL, CODEINE, LOPERAMIDE]
DAY = datetime.date(2026, 3, 14)


def current(*names: str) -> list[tuple[str, rules.OpioidMatch | None]]:
    return [(name, rules.match_opioid(name, REFERENCES)) for name in names]


def test_a_current_tramadol_gives_the_critical_message_of_the_issue_word_for_word():
    [found] = rules.opioid_contraindications(current("tramadol 50 mg"))
    assert found.message == (
        "Tramadol (opioid) is recorded as current while LDN is active: naltrexone blocks opioid analgesia and can "
        "precipitate withdrawal."
    )
    assert found.recorded_as == ("tramadol 50 mg",)


def test_one_contraindication_per_ingredient_however_many_entries_name_it():
    found = rules.opioid_contraindications(current("Ultram", "tramadol 50mg", "co-codamol 30/500"))
    assert [item.ingredient for item in found] == ["tramadol", "codeine"]
    assert found[0].recorded_as == ("Ultram", "tramadol 50mg")
    assert found[1].message.startswith("Codeine (opioid) is recorded as current")


def test_loperamide_and_unknown_names_contraindicate_nothing():
    assert rules.opioid_contraindications(current("Imodium", "ibuprofen", "")) == []


def test_the_medication_list_wording_does_not_claim_that_ldn_is_active():
    [found] = rules.opioid_contraindications(current("Ultram"), template=rules.OPIOID_CONTRAINDICATES_LDN)
    assert "while LDN is active" not in found.message
    assert found.message.startswith("Tramadol (opioid) is recorded as current")


def test_no_profile_and_an_adult_give_no_warning():
    assert rules.safety_warnings(None, 40) == []
    assert rules.safety_warnings(SafetyValues(), 18) == []
    assert rules.safety_warnings(None, None) == []


@pytest.mark.parametrize(("age", "warned"), [(0, True), (17, True), (18, False), (19, False)])
def test_under_18_is_a_paediatric_warning_and_18_is_not(age, warned):
    warnings = rules.safety_warnings(None, age)
    assert [w.message for w in warnings] == (
        ["Paediatric patient: check the dose against a paediatric protocol."] if warned else []
    )


@pytest.mark.parametrize(("level", "warned"), [("none", False), ("mild", False), ("moderate", True), ("severe", True)])
def test_moderate_or_severe_hepatic_impairment_warns_and_mild_does_not(level, warned):
    warnings = rules.safety_warnings(SafetyValues(hepatic_impairment=level), 40)
    assert [w.kind for w in warnings] == ([SafetyWarningKind.HEPATIC] if warned else [])
    if warned:
        assert warnings[0].message.startswith(f"{level.capitalize()} hepatic impairment: naltrexone is metabolised")


def test_pregnancy_and_breastfeeding_are_warnings_for_review_never_confirmations():
    warnings = rules.safety_warnings(SafetyValues(pregnant=True, breastfeeding=True), 30)
    assert [w.kind for w in warnings] == [SafetyWarningKind.PREGNANCY, SafetyWarningKind.BREASTFEEDING]
    assert all(w.severity == "warning" and not w.needs_confirmation for w in warnings)
    assert warnings[0].message == rules.PREGNANCY_WARNING


def test_a_known_hypersensitivity_needs_a_confirmation_and_comes_first():
    warnings = rules.safety_warnings(SafetyValues(naltrexone_hypersensitivity=True, pregnant=True), 16)
    assert [w.kind for w in warnings] == [
        SafetyWarningKind.HYPERSENSITIVITY,
        SafetyWarningKind.PREGNANCY,
        SafetyWarningKind.PAEDIATRIC,
    ]
    assert warnings[0].needs_confirmation
    assert not any(w.needs_confirmation for w in warnings[1:])


def test_every_safety_message_is_one_sentence_that_says_why():
    warnings = rules.safety_warnings(
        SafetyValues(pregnant=True, breastfeeding=True, hepatic_impairment="severe", naltrexone_hypersensitivity=True),
        10,
    )
    assert len(warnings) == 5
    for warning in warnings:
        assert warning.message.count(". ") == 0 and warning.message.endswith(".")
        assert ":" in warning.message  # the fact, then why or what to do


@pytest.mark.parametrize(
    ("start", "stop", "voided", "on", "expected"),
    [
        (DAY, None, False, DAY, True),
        (DAY, None, False, DAY - datetime.timedelta(days=1), False),
        (DAY, DAY + datetime.timedelta(days=1), False, DAY, True),
        (DAY, DAY + datetime.timedelta(days=1), False, DAY + datetime.timedelta(days=1), False),
        (DAY, DAY, False, DAY, False),
        (DAY, None, True, DAY, False),
    ],
)
def test_an_entry_is_current_from_its_start_until_the_day_it_stops(start, stop, voided, on, expected):
    assert rules.is_current(start_date=start, stop_date=stop, voided=voided, on=on) is expected


def test_the_start_date_cannot_be_in_the_future_or_before_birth():
    born = datetime.date(1980, 1, 1)
    assert rules.start_date_problem(DAY, today=DAY, born=born) is None
    assert rules.start_date_problem(DAY + datetime.timedelta(days=1), today=DAY, born=born) == rules.START_IN_FUTURE
    assert rules.start_date_problem(datetime.date(1979, 12, 31), today=DAY, born=born) == rules.START_BEFORE_BIRTH


def test_the_stop_date_cannot_be_before_the_start_or_in_the_future():
    start = DAY - datetime.timedelta(days=10)
    assert rules.stop_date_problem(start, start=start, today=DAY) is None
    assert rules.stop_date_problem(DAY, start=start, today=DAY) is None
    assert (
        rules.stop_date_problem(start - datetime.timedelta(days=1), start=start, today=DAY) == rules.STOP_BEFORE_START
    )
    assert rules.stop_date_problem(DAY + datetime.timedelta(days=1), start=start, today=DAY) == rules.STOP_IN_FUTURE
