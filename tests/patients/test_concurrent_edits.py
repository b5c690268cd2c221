"""Two real sessions edit the same record: the later save is refused, explained, and can be re-applied."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from patients.concurrency import STALE_EDIT, VERSION_UNREADABLE, version_of
from patients.models import Clinic, Patient
from patients.roles import Role
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

VERSION_INPUT = re.compile(r'<input[^>]*name="version"[^>]*>')


def signed_in(user: User) -> Client:
    """A real session: the sign-in form posted as a browser does, and its session cookie."""
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def form_of(html: str) -> dict[str, object]:
    """The form data a browser would send back unchanged, read from the page."""
    data: dict[str, object] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) in {"csrfmiddlewaretoken", "reapply"}:
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) == "checkbox":
            if "checked" in tag:
                data.setdefault(name.group(1), [])
                data[name.group(1)].append(value.group(1) if value else "on")  # type: ignore[union-attr]  # fails the test
            continue
        data[name.group(1)] = value.group(1) if value else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        data[name] = body.strip("\n")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


def version_in(html: str) -> str:
    tag = VERSION_INPUT.search(html)
    assert tag, "the form carries the version the user opened"
    return re.search(r'value="([^"]*)"', tag.group(0)).group(1)  # type: ignore[union-attr]  # no match: the test fails


@pytest.fixture
def colleague(clinic: Clinic) -> User:
    return make_user("dr.park", Role.PRESCRIBER, clinic)


def opened_at(patient: Patient) -> str:
    newest = patient.history.order_by("-history_id").first()
    return dateformat.format(timezone.localtime(newest.history_date), "j M Y H:i")


def test_a_save_over_a_newer_version_is_refused_explained_and_can_be_reapplied(patient, prescriber, colleague):
    edit_url = reverse("patients:edit", args=[patient.pk])
    alice, bob = signed_in(prescriber), signed_in(colleague)
    alice_form = form_of(alice.get(edit_url).content.decode())
    bob_form = form_of(bob.get(edit_url).content.decode())
    assert alice_form["version"] == bob_form["version"] == str(version_of(patient))

    alice_form.update(notes="Allergy: penicillin", change_reason="allergy reported")
    assert alice.post(edit_url, alice_form).status_code == 302

    bob_form.update(given_name="Augusta", change_reason="preferred name")
    refused = bob.post(edit_url, bob_form)
    html = refused.content.decode()
    patient.refresh_from_db()
    assert refused.status_code == 200
    message = STALE_EDIT.format(user="dr.lee", time=opened_at(patient))
    assert message in html
    changes = {change.name: change for change in refused.context["form"].stale.changes}
    assert changes["notes"].opened == "—" and changes["notes"].current == "Allergy: penicillin"
    assert changes["notes"].changed_by_other and not changes["notes"].changed_by_you
    assert changes["given_name"].changed_by_you and changes["given_name"].submitted == "Augusta"
    assert '<th scope="row">Notes</th>' in html
    assert "Re-apply my changes" in html
    assert patient.notes == "Allergy: penicillin"
    assert patient.given_name == "Ada"

    # The re-rendered form: the new version, Bob's own change, Alice's note; nothing saved until Bob submits.
    again = form_of(html)
    assert again["version"] == str(version_of(patient))
    assert again["given_name"] == "Augusta"
    assert again["notes"] == "Allergy: penicillin"
    assert again["change_reason"] == "preferred name"
    assert bob.post(edit_url, {**again, "reapply": "1"}).status_code == 302
    patient.refresh_from_db()
    assert (patient.given_name, patient.notes) == ("Augusta", "Allergy: penicillin")


def test_a_concurrent_change_of_the_diagnoses_is_detected(patient, prescriber, colleague, fibromyalgia, crohns):
    edit_url = reverse("patients:edit", args=[patient.pk])
    alice, bob = signed_in(prescriber), signed_in(colleague)
    alice_form = form_of(alice.get(edit_url).content.decode())
    bob_form = form_of(bob.get(edit_url).content.decode())
    alice_form.update(conditions=[str(fibromyalgia.pk), str(crohns.pk)], change_reason="new diagnosis")
    assert alice.post(edit_url, alice_form).status_code == 302

    bob_form.update(family_name="King", change_reason="married name")
    refused = bob.post(edit_url, bob_form)
    changes = {change.name: change for change in refused.context["form"].stale.changes}
    assert "Crohn's disease" in changes["conditions"].current
    assert "Crohn's disease" not in changes["conditions"].opened
    assert not changes["conditions"].changed_by_you
    again = form_of(refused.content.decode())
    assert sorted(again["conditions"]) == sorted([str(fibromyalgia.pk), str(crohns.pk)])
    assert bob.post(edit_url, again).status_code == 302
    patient.refresh_from_db()
    assert patient.family_name == "King"
    assert {d.condition for d in patient.diagnoses.all()} == {fibromyalgia, crohns}


def test_a_stale_post_with_no_changes_at_all_is_refused_too(patient, prescriber, colleague):
    edit_url = reverse("patients:edit", args=[patient.pk])
    alice, bob = signed_in(prescriber), signed_in(colleague)
    bob_form = form_of(bob.get(edit_url).content.decode())
    alice_form = form_of(alice.get(edit_url).content.decode())
    alice_form.update(notes="Allergy: penicillin", change_reason="allergy reported")
    alice.post(edit_url, alice_form)
    before = patient.history.count()

    refused = bob.post(edit_url, {**bob_form, "change_reason": "just saving"})
    assert refused.status_code == 200
    assert "while you were editing" in refused.content.decode()
    assert patient.history.count() == before
    patient.refresh_from_db()
    assert patient.notes == "Allergy: penicillin"


@pytest.mark.parametrize("version", [None, "", "abc", "-1", "1.5", "9" * 40, "١٢"])
def test_a_missing_or_garbled_version_is_a_form_error_never_a_save_or_a_500(patient, prescriber, version):
    client = signed_in(prescriber)
    edit_url = reverse("patients:edit", args=[patient.pk])
    data = form_of(client.get(edit_url).content.decode())
    data.update(given_name="Changed", change_reason="test")
    if version is None:
        del data["version"]
    else:
        data["version"] = version
    response = client.post(edit_url, data)
    assert response.status_code == 200
    assert VERSION_UNREADABLE in response.context["form"].non_field_errors()
    patient.refresh_from_db()
    assert patient.given_name == "Ada"


def test_a_version_of_another_record_is_refused_as_stale(make_patient, prescriber):
    first, second = make_patient(mrn="ONE"), make_patient(mrn="TWO")
    client = signed_in(prescriber)
    data = form_of(client.get(reverse("patients:edit", args=[first.pk])).content.decode())
    data.update(version=str(version_of(second)), given_name="Changed", change_reason="test")
    response = client.post(reverse("patients:edit", args=[first.pk]), data)
    assert response.status_code == 200
    assert response.context["form"].stale is not None
    first.refresh_from_db()
    assert first.given_name == "Ada"


# Clinic settings ------------------------------------------------------------------------------------------


@pytest.fixture
def clinic_admins(clinic: Clinic, prescriber: User, colleague: User) -> tuple[User, User]:
    change_clinic = Permission.objects.get(content_type__app_label="patients", codename="change_clinic")
    for user in (prescriber, colleague):
        user.user_permissions.add(change_clinic)
    return prescriber, colleague


def test_clinic_settings_saved_meanwhile_are_not_overwritten(clinic, clinic_admins):
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    alice, bob = (signed_in(user) for user in clinic_admins)
    alice_form = form_of(alice.get(url).content.decode())
    bob_form = form_of(bob.get(url).content.decode())
    alice_form.update(restart_after_gap_days="10", change_reason="longer gap agreed")
    assert alice.post(url, alice_form).status_code == 302

    bob_form.update(phone="+44 20 7946 0000", change_reason="new number")
    refused = bob.post(url, bob_form)
    html = refused.content.decode()
    clinic.refresh_from_db()
    assert refused.status_code == 200
    newest = clinic.history.order_by("-history_id").first()
    when = dateformat.format(timezone.localtime(newest.history_date), "j M Y H:i")
    assert f"This record was changed by dr.lee at {when} while you were editing" in html
    changes = {change.name: change for change in refused.context["form"].stale.changes}
    assert (changes["restart_after_gap_days"].opened, changes["restart_after_gap_days"].current) == ("7", "10")
    assert "Restart after a gap of (days)" in html
    assert (clinic.restart_after_gap_days, clinic.phone) == (10, "")

    again = form_of(html)
    assert again["restart_after_gap_days"] == "10"
    assert bob.post(url, again).status_code == 302
    clinic.refresh_from_db()
    assert (clinic.restart_after_gap_days, clinic.phone) == (10, "+44 20 7946 0000")
    assert clinic.history.first().history_change_reason == "new number"


def test_clinic_settings_need_the_permission_and_membership(clinic, other_clinic, prescriber, staff, outsider):
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    assert signed_in(prescriber).get(url).status_code == 403
    assert signed_in(staff).get(url).status_code == 403
    assert signed_in(outsider).get(url).status_code == 404
    change_clinic = Permission.objects.get(content_type__app_label="patients", codename="change_clinic")
    outsider.user_permissions.add(change_clinic)
    assert signed_in(outsider).get(url).status_code == 404  # the permission does not open another clinic
    assert signed_in(outsider).get(reverse("patients:clinic-settings", args=[other_clinic.pk])).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"restart_after_gap_days": "0"}, "restart_after_gap_days", "greater than or equal to 1"),
        ({"restart_after_gap_days": "91"}, "restart_after_gap_days", "less than or equal to 90"),
        ({"restart_after_gap_days": "seven"}, "restart_after_gap_days", "Enter a whole number."),
        ({"name": "South Pain Clinic"}, "name", "already exists"),
        ({"change_reason": ""}, "change_reason", "Give the reason for this change."),
    ],
)
def test_bad_clinic_settings_are_explained_on_the_form(clinic, other_clinic, clinic_admins, overrides, field, message):
    client = signed_in(clinic_admins[0])
    url = reverse("patients:clinic-settings", args=[clinic.pk])
    data = {**form_of(client.get(url).content.decode()), "change_reason": "test", **overrides}
    response = client.post(url, data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    clinic.refresh_from_db()
    assert (clinic.name, clinic.restart_after_gap_days) == ("North Pain Clinic", 7)


def test_the_patient_list_links_to_the_settings_only_with_the_permission(clinic, clinic_admins, staff):
    link = f'href="/clinics/{clinic.pk}/settings/"'
    assert link in signed_in(clinic_admins[0]).get(reverse("patients:list")).content.decode()
    assert link not in signed_in(staff).get(reverse("patients:list")).content.decode()
