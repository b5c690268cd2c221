"""Logging a dose through the real form and HTTP: the rule table, the confirmation flow, roles."""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.dbstate import database_unchanged
from titration import rules, services
from titration.models import DoseEntry, Flag

from .conftest import dose_post

pytestmark = pytest.mark.django_db


def url(patient) -> str:
    return reverse("titration:dose-create", args=[patient.pk])


def errors(response, field):
    return response.context["form"].errors.get(field, [])


class TestRuleTableThroughTheForm:
    @pytest.mark.parametrize(
        ("dose", "message"),
        [
            ("0", rules.NOT_POSITIVE),
            ("-1", rules.NOT_POSITIVE),
            ("1.234", rules.TOO_MANY_PLACES),
            ("abc", rules.NOT_A_NUMBER),
            ("1,5", rules.DECIMAL_COMMA),
            ("50.01", rules.ABOVE_HARD_MAX),
            ("", rules.NOT_A_NUMBER),
        ],
    )
    def test_refused_doses_show_an_error_and_store_nothing(self, prescriber_client, patient, today, dose, message):
        response = prescriber_client.post(url(patient), dose_post(today, dose))
        assert response.status_code == 200
        assert errors(response, "dose_mg") == [message]
        assert not DoseEntry.objects.exists()

    @pytest.mark.parametrize("dose", ["0.5", "4.5", "1.5"])
    def test_in_range_doses_are_stored_without_confirmation(self, prescriber_client, patient, today, dose):
        response = prescriber_client.post(url(patient), dose_post(today, dose))
        assert response.status_code == 302
        assert response["Location"] == reverse("titration:patient", args=[patient.pk])
        entry = DoseEntry.objects.get()
        assert entry.dose_mg == Decimal(dose)
        assert not entry.flags.exists()

    @pytest.mark.parametrize("dose", ["0.49", "4.51", "50"])
    def test_out_of_range_doses_need_confirmation_first(self, prescriber_client, patient, today, dose):
        response = prescriber_client.post(url(patient), dose_post(today, dose))
        assert response.status_code == 200
        assert "outside the LDN range of 0.5–4.5 mg" in response.content.decode()
        assert 'name="confirm_out_of_range"' in response.content.decode()
        assert 'name="override_reason"' in response.content.decode()
        assert not DoseEntry.objects.exists()

    def test_a_future_date_is_refused(self, prescriber_client, patient, today):
        response = prescriber_client.post(url(patient), dose_post(today + datetime.timedelta(days=1), "1"))
        assert errors(response, "taken_on") == [services.FUTURE_DAY]
        assert not DoseEntry.objects.exists()

    def test_a_date_before_birth_is_refused(self, prescriber_client, patient):
        response = prescriber_client.post(url(patient), dose_post(datetime.date(1979, 1, 1), "1"))
        assert errors(response, "taken_on") == [services.BEFORE_BIRTH]

    def test_a_second_entry_for_the_same_day_is_refused(self, prescriber_client, patient, today):
        prescriber_client.post(url(patient), dose_post(today, "1"))
        response = prescriber_client.post(url(patient), dose_post(today, "1.5"))
        assert errors(response, "taken_on") == [services.DUPLICATE_DAY]
        assert DoseEntry.objects.count() == 1

    def test_a_missed_dose_needs_no_amount(self, prescriber_client, patient, today):
        response = prescriber_client.post(url(patient), dose_post(today, "", status="missed"))
        assert response.status_code == 302
        assert DoseEntry.objects.get().status == "missed"

    def test_an_unknown_status_or_formulation_is_refused(self, prescriber_client, patient, today):
        response = prescriber_client.post(url(patient), dose_post(today, "1", status="eaten", formulation="pill"))
        assert errors(response, "status") and errors(response, "formulation")


class TestConfirmationFlow:
    def test_confirmed_with_a_reason_the_dose_is_stored_and_flagged(self, prescriber_client, patient, today):
        data = dose_post(today, "6", confirm_out_of_range="on", override_reason="FINAL trial protocol, 6 mg")
        response = prescriber_client.post(url(patient), data, follow=True)
        entry = DoseEntry.objects.get()
        assert entry.dose_mg == Decimal("6")
        assert entry.override_reason == "FINAL trial protocol, 6 mg"
        flag = entry.flags.get()
        assert flag.kind == Flag.Kind.OUT_OF_RANGE
        assert flag.severity == Flag.Severity.WARNING
        assert flag.message == "6 mg is above the LDN range of 0.5–4.5 mg."
        assert "6 mg is above the LDN range" in response.content.decode()  # the message names the flag

    def test_confirmed_without_a_reason_is_refused(self, prescriber_client, patient, today):
        response = prescriber_client.post(url(patient), dose_post(today, "6", confirm_out_of_range="on"))
        assert errors(response, "override_reason") == [services.OVERRIDE_REASON_REQUIRED]
        assert not DoseEntry.objects.exists()

    def test_a_reason_without_the_tick_is_not_a_confirmation(self, prescriber_client, patient, today):
        response = prescriber_client.post(url(patient), dose_post(today, "0.25", override_reason="ultra-low"))
        assert errors(response, "confirm_out_of_range")
        assert not DoseEntry.objects.exists()

    def test_an_in_range_dose_ignores_a_stray_reason(self, prescriber_client, patient, today):
        prescriber_client.post(url(patient), dose_post(today, "1", confirm_out_of_range="on", override_reason="x"))
        assert DoseEntry.objects.get().override_reason == ""

    def test_15_mg_after_1_5_mg_raises_a_critical_flag(self, prescriber_client, patient, today):
        prescriber_client.post(url(patient), dose_post(today - datetime.timedelta(days=1), "1.5"))
        data = dose_post(today, "15", confirm_out_of_range="on", override_reason="as written on the script")
        response = prescriber_client.post(url(patient), data, follow=True)
        entry = DoseEntry.objects.get(taken_on=today)
        assert entry.flags.filter(kind=Flag.Kind.TENFOLD_CHANGE, severity=Flag.Severity.CRITICAL).exists()
        assert "[Critical]" in response.content.decode()


class TestPlanInteraction:
    def test_before_the_first_dose_the_form_is_prefilled_with_the_plans_starting_dose(
        self, prescriber_client, patient, low_slow_plan, today
    ):
        # The calendar of a plan started 20 days ago says 1.5 mg; the patient has not started it yet.
        form = prescriber_client.get(url(patient)).context["form"]
        assert form.fields["dose_mg"].initial == "0.5"
        assert form.fields["taken_on"].initial == today

    def test_the_form_is_prefilled_with_the_patient_paced_expected_dose(
        self, prescriber_client, patient, prescriber, today
    ):
        services.plan_set(
            patient=patient,
            by=prescriber,
            start_date=today - datetime.timedelta(days=30),
            starting_dose_mg=Decimal("0.5"),
            step_mg=Decimal("0.5"),
            step_interval_days=7,
            target_dose_mg=Decimal("4.5"),
        )
        for ago in range(30, 0, -1):  # a week at 0.5 mg, then held at 1 mg for three weeks
            dose = Decimal("0.5") if ago > 23 else Decimal("1")
            services.dose_record(
                patient=patient, by=prescriber, taken_on=today - datetime.timedelta(days=ago), dose_mg=dose
            )
        form = prescriber_client.get(url(patient)).context["form"]
        assert form.fields["dose_mg"].initial == "1.5"  # one step above the patient, not the calendar's 2.5 mg
        response = prescriber_client.post(url(patient), dose_post(today, form.fields["dose_mg"].initial))
        assert response.status_code == 302
        assert not DoseEntry.objects.get(taken_on=today).flags.exists()  # the suggestion raises no flag

    def test_a_first_dose_one_step_above_the_starting_dose_is_an_info_flag(
        self, prescriber_client, patient, low_slow_plan, today
    ):
        prescriber_client.post(url(patient), dose_post(today, "1"))
        flag = Flag.objects.get()
        assert (flag.kind, flag.severity) == (Flag.Kind.OFF_SCHEDULE, Flag.Severity.INFO)
        assert DoseEntry.objects.get().scheduled_dose_mg == Decimal("0.5")

    def test_a_step_larger_than_the_plans_is_a_warning(self, prescriber_client, patient, low_slow_plan, today):
        prescriber_client.post(url(patient), dose_post(today - datetime.timedelta(days=1), "1"))
        prescriber_client.post(url(patient), dose_post(today, "2"))
        kinds = set(Flag.objects.filter(dose_entry__taken_on=today).values_list("kind", flat=True))
        assert Flag.Kind.STEP_TOO_LARGE in kinds


class TestRoles:
    def test_staff_cannot_log_doses(self, staff_client, patient, today):
        assert staff_client.get(url(patient)).status_code == 403
        assert staff_client.post(url(patient), dose_post(today, "1")).status_code == 403
        assert not DoseEntry.objects.exists()

    def test_another_clinic_gets_404(self, outsider, outsider_client, patient, today):
        assert outsider_client.get(url(patient)).status_code == 404
        with database_unchanged(outsider):
            assert outsider_client.post(url(patient), dose_post(today, "1")).status_code == 404
        assert not DoseEntry.objects.exists()


dose_text = st.one_of(
    st.text(max_size=12),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.sampled_from(["0.5", "4.5", "0.49", "4.51", "50", "50.01", "1,5", "1.234", "-0", "1e2", " 2 mg", "٣"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dose=dose_text,
    day=st.one_of(st.text(max_size=12), st.dates().map(str)),
    status=st.sampled_from(["taken", "missed", "", "x"]),
    confirm=st.sampled_from(["", "on"]),
    reason=st.text(max_size=20),
)
@example(dose="", day="0001-1-1", status="taken", confirm="", reason="")  # the first day of the calendar
@example(dose="1", day="9999-12-31", status="taken", confirm="", reason="")  # the last
def test_no_input_produces_a_500_or_stores_an_invalid_dose(prescriber, patient, dose, day, status, confirm, reason):
    client = Client(raise_request_exception=False)
    client.force_login(prescriber)
    data = {
        "taken_on": day,
        "dose_mg": dose,
        "formulation": "capsule",
        "status": status,
        "confirm_out_of_range": confirm,
        "override_reason": reason,
    }
    response = client.post(url(patient), data)
    assert response.status_code in (200, 302)
    for entry in DoseEntry.objects.all():
        if entry.dose_mg is not None:
            assert Decimal("0") < entry.dose_mg <= Decimal("50")
            assert entry.dose_mg == entry.dose_mg.quantize(Decimal("0.01"))
            if rules.out_of_range_message(entry.dose_mg) and entry.status == "taken":
                assert entry.override_reason.strip()
        assert entry.taken_on >= patient.date_of_birth
    Flag.objects.all().delete()
    DoseEntry.objects.all().delete()


def test_the_date_fields_default_to_today_in_iso_format(prescriber_client, patient, today):
    """A date input only accepts YYYY-MM-DD; a localised default would leave it blank in the browser."""
    dose_page = prescriber_client.get(url(patient)).content.decode()
    checkin_page = prescriber_client.get(reverse("titration:checkin-create", args=[patient.pk])).content.decode()
    assert f'name="taken_on" value="{today.isoformat()}"' in dose_page
    assert f'name="checked_on" value="{today.isoformat()}"' in checkin_page
