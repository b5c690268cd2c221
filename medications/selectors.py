"""Reads of the medications app, for its pages and for the titration app (a bounded number of queries each)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Prefetch

from patients.models import Patient

from . import rules
from .models import MedicationEntry, OpioidAlias, OpioidIngredient, SafetyProfile


def opioid_references() -> list[rules.OpioidReference]:
    """The whole opioid reference list as plain values (two queries)."""
    ingredients = OpioidIngredient.objects.prefetch_related(
        Prefetch("aliases", queryset=OpioidAlias.objects.order_by("name"))
    ).order_by("name")
    return [
        rules.OpioidReference(
            ingredient=ingredient.name,
            atc_code=ingredient.atc_code,
            is_contraindication=ingredient.is_contraindication,
            reason=ingredient.reason,
            aliases=tuple(alias.name for alias in ingredient.aliases.all()),
            pk=ingredient.pk,
        )
        for ingredient in ingredients
    ]


def match_entry(entry: MedicationEntry, references: list[rules.OpioidReference]) -> rules.OpioidMatch | None:
    """An entry's place on the opioid list, matched now so that a name added to the list later counts too."""
    if entry.reference_id is not None:
        chosen = next((ref for ref in references if ref.pk == entry.reference_id), None)
        if chosen is not None:
            return rules.OpioidMatch(reference=chosen, matched_name=chosen.ingredient)
    return rules.match_medication(entry.name, entry.active_ingredient, references)


@dataclass(frozen=True)
class ListedMedication:
    entry: MedicationEntry
    match: rules.OpioidMatch | None

    @property
    def status(self) -> str:
        return rules.opioid_status(self.match)

    @property
    def is_contraindication(self) -> bool:
        return self.match is not None and self.match.is_contraindication


@dataclass(frozen=True)
class MedicationList:
    current: list[ListedMedication]
    past: list[ListedMedication]
    voided: list[ListedMedication]
    contraindications: list[rules.Contraindication]


def medication_list(patient: Patient, *, on: datetime.date) -> MedicationList:
    """The patient's medications on ``on``: current, past (ended or not yet started) and voided (three queries)."""
    references = opioid_references()
    entries = patient.medications.select_related("recorded_by", "ended_by", "voided_by").order_by("-start_date", "-pk")
    current: list[ListedMedication] = []
    past: list[ListedMedication] = []
    voided: list[ListedMedication] = []
    for entry in entries:
        listed = ListedMedication(entry=entry, match=match_entry(entry, references))
        if entry.is_voided:
            voided.append(listed)
        elif entry.is_current_on(on):
            current.append(listed)
        else:
            past.append(listed)
    contraindications = rules.opioid_contraindications(
        ((item.entry.name, item.match) for item in current), template=rules.OPIOID_CONTRAINDICATES_LDN
    )
    return MedicationList(current=current, past=past, voided=voided, contraindications=contraindications)


@dataclass(frozen=True)
class ActiveOpioid:
    """A contraindicating opioid current on a day, with the entries it is recorded in and the critical message."""

    ingredient: str
    entry_ids: tuple[int, ...]
    recorded_as: tuple[str, ...]
    message: str


def active_opioids_for(patient: Patient, *, on: datetime.date) -> list[ActiveOpioid]:
    """The opioids that contraindicate LDN and are current on ``on`` (three queries; one without a current
    medication).

    For the titration app: while a plan is titrating or holding, each is a critical flag whose message is
    ``message`` ("Tramadol (opioid) is recorded as current while LDN is active: ...").
    """
    entries = list(patient.medications.current_on(on).order_by("start_date", "pk"))
    if not entries:  # no current medication (most patients): the reference list is not needed
        return []
    references = opioid_references()
    matched = [(entry, match_entry(entry, references)) for entry in entries]
    found = rules.opioid_contraindications((entry.name, match) for entry, match in matched)
    return [
        ActiveOpioid(
            ingredient=item.ingredient,
            entry_ids=tuple(entry.pk for entry, match in matched if match and match.ingredient == item.ingredient),
            recorded_as=item.recorded_as,
            message=item.message,
        )
        for item in found
    ]


def safety_profile_of(patient: Patient) -> SafetyProfile | None:
    return SafetyProfile.objects.filter(patient=patient).select_related("updated_by").first()


def preloaded_safety_profile(patient: Patient) -> SafetyProfile | None:
    """The profile read with the patient (``select_related("safety_profile")``), without a query."""
    if not Patient.safety_profile.is_cached(patient):
        raise ValueError("The patient was read without its safety profile.")
    return getattr(patient, "safety_profile", None)


def safety_warnings_for(
    patient: Patient, *, on: datetime.date, profile: SafetyProfile | None = None, preloaded: bool = False
) -> list[rules.SafetyWarning]:
    """The prescriber's warnings for the patient on ``on`` (one query; none when ``profile`` is given or
    ``preloaded``, the patient read with ``select_related("safety_profile")``)."""
    if preloaded:
        profile = preloaded_safety_profile(patient)
    elif profile is None:
        profile = safety_profile_of(patient)
    values = profile.values if profile is not None else None
    return rules.safety_warnings(values, patient.age_on(on))
