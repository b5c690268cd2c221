"""The opioid matcher over the whole shipped list: ingredients, brands, case, strengths, combinations."""

from __future__ import annotations

import pytest

from medications import rules
from medications.models import OpioidAlias, OpioidIngredient
from medications.selectors import opioid_references
from tests.medications.conftest import SHIPPED

INGREDIENT_NAMES = [row[0] for row in SHIPPED]
ALIASES = [(alias, row[0]) for row in SHIPPED for alias, _kind, _code in row[5]]
REQUIRED = [
    "morphine",
    "codeine",
    "dihydrocodeine",
    "oxycodone",
    "hydrocodone",
    "hydromorphone",
    "oxymorphone",
    "tramadol",
    "tapentadol",
    "fentanyl",
    "buprenorphine",
    "methadone",
    "pethidine",
    "diamorphine",
    "levorphanol",
    "pentazocine",
    "loperamide",
]


def variants(name: str) -> list[str]:
    """The ways a name is typed: as listed, upper, lower, alternating case, with a strength, with punctuation."""
    alternating = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(name))
    return [name, name.upper(), name.lower(), alternating, f"{name} 50 mg", f"{name.upper()}, 10mg/5ml", f"({name})"]


@pytest.mark.django_db
def test_the_migration_ships_every_ingredient_and_alias_of_the_list():
    assert set(OpioidIngredient.objects.values_list("name", flat=True)) == set(INGREDIENT_NAMES)
    assert set(REQUIRED) <= set(INGREDIENT_NAMES)
    assert OpioidAlias.objects.count() == len(ALIASES)
    assert len(INGREDIENT_NAMES) >= 18 and len(ALIASES) >= 80


@pytest.mark.django_db
def test_every_shipped_ingredient_has_an_atc_code_a_reason_and_a_source_citing_who():
    for ingredient in OpioidIngredient.objects.all():
        assert ingredient.atc_code and ingredient.reason
        assert "WHO ATC/DDD" in ingredient.source, ingredient.name


@pytest.mark.django_db
def test_the_atc_codes_of_the_clinical_reference_are_shipped_as_given():
    codes = dict(OpioidIngredient.objects.values_list("name", "atc_code"))
    assert {name: codes[name] for name in codes if name in EXPECTED_CODES} == EXPECTED_CODES


EXPECTED_CODES = {
    "morphine": "N02AA01",
    "hydromorphone": "N02AA03",
    "oxycodone": "N02AA05",
    "dihydrocodeine": "N02AA08",
    "pethidine": "N02AB02",
    "fentanyl": "N02AB03",
    "pentazocine": "N02AD01",
    "buprenorphine": "N02AE01",
    "tramadol": "N02AX02",
    "tapentadol": "N02AX06",
    "codeine": "R05DA04",
    "methadone": "N07BC02",
    "hydrocodone": "R05DA03",
    "loperamide": "A07DA03",
}


@pytest.mark.django_db
def test_codes_that_could_not_be_confirmed_say_so_in_their_source():
    for name in ("oxymorphone", "levorphanol", "diamorphine"):
        assert "verify against WHO ATC/DDD index" in OpioidIngredient.objects.get(name=name).source


@pytest.mark.django_db
@pytest.mark.parametrize("ingredient", INGREDIENT_NAMES)
def test_each_ingredient_is_matched_however_it_is_typed(ingredient, references):
    for typed in variants(ingredient):
        match = rules.match_opioid(typed, references)
        assert match is not None, typed
        assert match.ingredient == ingredient, typed


@pytest.mark.django_db
@pytest.mark.parametrize(("alias", "ingredient"), ALIASES)
def test_each_brand_and_combination_name_is_matched_to_its_ingredient(alias, ingredient, references):
    for typed in variants(alias):
        match = rules.match_opioid(typed, references)
        assert match is not None, typed
        assert match.ingredient == ingredient, typed
        assert match.matched_name == alias


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "ingredient"),
    [
        ("tramadol 50 mg", "tramadol"),
        ("Tramadol50mg capsules", "tramadol"),
        ("Ultram", "tramadol"),
        ("OxyContin", "oxycodone"),
        ("oxycontin 20mg m/r", "oxycodone"),
        ("co-codamol 30/500", "codeine"),
        ("Co codamol 8/500", "codeine"),
        ("COCODAMOL", "codeine"),
        ("co-dydramol 10/500", "dihydrocodeine"),
        ("Tylenol with Codeine #3", "codeine"),
        ("Tylenol #3", "codeine"),
        ("Percocet 5/325", "oxycodone"),
        ("Vicodin", "hydrocodone"),
        ("NORCO 10-325", "hydrocodone"),
        ("MS Contin 30 mg", "morphine"),
        ("MSContin", "morphine"),
        ("morphine sulfate oral solution 10mg/5ml", "morphine"),
        ("Duragesic 25 mcg/h patch", "fentanyl"),
        ("Subutex 8 mg", "buprenorphine"),
        ("Suboxone 8mg/2mg film", "buprenorphine"),
        ("codeine linctus 15mg/5ml", "codeine"),
        ("Codeine phosphate", "codeine"),
        ("dihydro codeine", "dihydrocodeine"),
        ("meperidine", "pethidine"),
        ("Paracetamol + codeine", "codeine"),
        ("Imodium", "loperamide"),
        ("Morphine", "morphine"),
        ("morphíne", "morphine"),
    ],
)
def test_names_as_clinicians_type_them_are_matched(typed, ingredient, references):
    match = rules.match_opioid(typed, references)
    assert match is not None and match.ingredient == ingredient


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "ibuprofen 400 mg",
        "paracetamol",
        "Tylenol",
        "naltrexone",
        "naloxone",
        "methylnaltrexone",
        "amitriptyline 10mg",
        "codeinex",
        "morphinefree",
        "",
        "   ",
        "50 mg",
    ],
)
def test_names_that_are_not_on_the_list_are_not_matched(typed, references):
    assert rules.match_opioid(typed, references) is None


@pytest.mark.django_db
def test_a_name_inside_a_longer_word_is_not_matched_but_the_longer_ingredient_is(references):
    assert rules.match_opioid("dihydrocodeine 30 mg", references).ingredient == "dihydrocodeine"
    assert rules.match_opioid("hydromorphone", references).ingredient == "hydromorphone"
    assert rules.match_opioid("oxymorphone", references).ingredient == "oxymorphone"


@pytest.mark.django_db
def test_loperamide_is_recognised_as_an_opioid_that_is_not_a_contraindication(references):
    match = rules.match_opioid("Imodium 2 mg", references)
    assert match.ingredient == "loperamide"
    assert not match.is_contraindication
    assert "peripherally acting" in match.reference.reason.lower()
    assert match.status.startswith("loperamide: not a contraindication")


@pytest.mark.django_db
def test_an_unknown_name_is_shown_as_not_checked(references):
    assert rules.opioid_status(rules.match_opioid("Zebrafen", references)) == "not checked against the opioid list"


@pytest.mark.django_db
def test_an_alias_added_by_an_administrator_is_matched_at_the_next_check():
    assert rules.match_opioid("Zebrafen 5 mg", opioid_references()) is None
    OpioidAlias.objects.create(name="Zebrafen", ingredient=OpioidIngredient.objects.get(name="tramadol"))
    assert rules.match_opioid("Zebrafen 5 mg", opioid_references()).ingredient == "tramadol"


def test_the_matcher_is_a_pure_function_of_plain_values():
    references = [rules.OpioidReference("tramadol", "N02AX02", True, "opioid", ("Ultram",))]
    assert rules.match_opioid("ULTRAM 50", references).ingredient == "tramadol"
    assert rules.match_opioid("ultra", references) is None
