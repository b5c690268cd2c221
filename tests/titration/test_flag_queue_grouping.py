"""The flag queue grouped by patient, and the focus on the next flag after an acknowledgement."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from titration import services
from titration.models import Flag

from .conftest import plan_for

pytestmark = pytest.mark.django_db


def ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


@pytest.fixture
def queue(clock, patient, make_patient, prescriber):
    """Ada: an info flag (the oldest) and, later, a critical slip with its out-of-range warning; Bea: a warning
    raised between them. Critical first would split Ada's flags around Bea's; grouped, Ada's come together."""
    bea = make_patient(given_name="Bea", family_name="Other")
    plan_for(patient, prescriber, ago(30), starting="1", step="0", target="1")
    services.dose_record(patient=patient, by=prescriber, taken_on=ago(3), dose_mg=Decimal("1.5"))  # info
    clock.shift(datetime.timedelta(minutes=1))
    services.dose_record(patient=bea, by=prescriber, taken_on=ago(3), dose_mg=Decimal("1"))
    services.dose_record(patient=bea, by=prescriber, taken_on=ago(2), dose_mg=Decimal("3"))  # warning: a big step
    clock.shift(datetime.timedelta(minutes=1))
    services.dose_record(
        patient=patient, by=prescriber, taken_on=ago(1), dose_mg=Decimal("15"), confirmed=True, override_reason="x"
    )  # critical slip + out-of-range warning
    return patient, bea


def shown(client, **params) -> list[Flag]:
    return list(client.get(reverse("titration:flags"), params).context["page"])


def test_the_queue_is_grouped_by_patient_most_severe_group_first(staff_client, queue):
    ada, bea = queue
    flags = shown(staff_client)
    assert [f.patient_id for f in flags] == [ada.pk, ada.pk, ada.pk, bea.pk]
    ada_flags = flags[:3]
    assert [f.severity for f in ada_flags] == sorted((f.severity for f in ada_flags), reverse=True)
    assert ada_flags[0].kind == Flag.Kind.TENFOLD_CHANGE
    assert ada_flags[-1].kind == Flag.Kind.OFF_SCHEDULE


def test_each_group_is_headed_by_the_patient_with_a_per_patient_count(staff_client, queue):
    ada, bea = queue
    html = staff_client.get(reverse("titration:flags")).content.decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert f"Byron, Ada (MRN {ada.mrn}): 3 open flags" in text
    assert f"Other, Bea (MRN {bea.mrn}): 1 open flag " in text
    assert text.index("Byron, Ada (MRN") < text.index("Other, Bea (MRN")


def test_the_groups_follow_the_filters(staff_client, queue):
    ada, bea = queue
    text = " ".join(
        re.sub(
            r"<[^>]+>", " ", staff_client.get(f"{reverse('titration:flags')}?severity=warning").content.decode()
        ).split()
    )
    assert f"Byron, Ada (MRN {ada.mrn}): 1 open flag " in text  # only the warnings are counted
    assert f"Other, Bea (MRN {bea.mrn}): 1 open flag " in text


def test_a_group_split_by_the_page_says_how_many_are_on_it(staff_client, queue, monkeypatch):
    monkeypatch.setattr("titration.views.FLAGS_PER_PAGE", 2)
    ada, _ = queue
    text = " ".join(
        re.sub(r"<[^>]+>", " ", staff_client.get(f"{reverse('titration:flags')}?page=2").content.decode()).split()
    )
    assert f"Byron, Ada (MRN {ada.mrn}): 3 open flags, 1 on this page" in text


def test_after_an_acknowledgement_the_focus_goes_to_the_next_flag(prescriber_client, queue):
    first, second, *_ = shown(prescriber_client)
    html = prescriber_client.get(reverse("titration:flags")).content.decode()
    assert f'<input type="hidden" name="focus_next" value="{second.pk}">' in html
    response = prescriber_client.post(
        reverse("titration:flag-acknowledge", args=[first.pk]),
        {
            "note": "Called the patient: took 1.5 mg",
            "next": f"{reverse('titration:flags')}?severity=",
            "focus_next": str(second.pk),
        },
    )
    assert response["Location"] == f"{reverse('titration:flags')}?severity=&focus={second.pk}"
    after = prescriber_client.get(response["Location"]).content.decode()
    assert re.search(rf'<tr id="flag-{second.pk}">.*?id="note-{second.pk}"[^>]*autofocus', after, re.S)
    assert after.count("autofocus") == 1


def test_a_refused_acknowledgement_keeps_the_focus_on_its_flag(prescriber_client, queue):
    critical = shown(prescriber_client)[0]
    response = prescriber_client.post(
        reverse("titration:flag-acknowledge", args=[critical.pk]),
        {"note": "ok", "next": reverse("titration:flags"), "focus_next": "1"},
    )
    assert response["Location"] == f"{reverse('titration:flags')}?focus={critical.pk}"
    assert Flag.objects.get(pk=critical.pk).is_open


def test_the_last_flag_of_the_queue_sends_the_focus_to_the_one_above(prescriber_client, queue):
    *_, above, last = shown(prescriber_client)
    html = prescriber_client.get(reverse("titration:flags")).content.decode()
    form = re.search(rf'action="/flags/{last.pk}/acknowledge/".*?</form>', html, re.S).group(0)
    assert f'name="focus_next" value="{above.pk}"' in form


def test_acknowledging_from_another_page_returns_there_unchanged(prescriber_client, queue):
    ada, _ = queue
    flag = shown(prescriber_client)[-1]
    response = prescriber_client.post(
        reverse("titration:flag-acknowledge", args=[flag.pk]),
        {"note": "fine", "next": reverse("titration:patient", args=[ada.pk]), "focus_next": "3"},
    )
    assert response["Location"] == reverse("titration:patient", args=[ada.pk])


def test_the_grouped_queue_costs_the_same_queries_for_more_patients(clock, staff_client, make_patient, prescriber):
    def add(n: int) -> None:
        for _ in range(n):
            patient = make_patient()
            services.dose_record(patient=patient, by=prescriber, taken_on=ago(2), dose_mg=Decimal("1.5"))
            services.dose_record(
                patient=patient,
                by=prescriber,
                taken_on=ago(1),
                dose_mg=Decimal("15"),
                confirmed=True,
                override_reason="x",
            )

    def count() -> int:
        staff_client.get(reverse("titration:flags"))
        with CaptureQueriesContext(connection) as captured:
            staff_client.get(reverse("titration:flags"))
        return len(captured)

    add(2)
    few = count()
    add(6)
    assert count() == few
