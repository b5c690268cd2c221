import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from patients.models import Clinic, Membership, Patient
from patients.roles import Role, role_of
from titration.management.commands.seed_demo import DEMO_ACCOUNTS, DEMO_CLINIC
from titration.models import DoseEntry, TitrationPlan

GOOD_PASSWORD = "a-long-clinic-passphrase"


def create_clinician(*args, stdin_text=None, monkeypatch=None):
    if stdin_text is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin_text))
    out = io.StringIO()
    call_command("create_clinician", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestCreateClinician:
    def test_creates_user_clinic_membership_and_role_from_stdin(self, monkeypatch):
        output = create_clinician(
            "dr.new",
            "--role",
            "prescriber",
            "--clinic",
            "East Clinic",
            "--password-stdin",
            stdin_text=GOOD_PASSWORD + "\n",
            monkeypatch=monkeypatch,
        )
        user = User.objects.get(username="dr.new")
        assert user.check_password(GOOD_PASSWORD)
        assert role_of(user) is Role.PRESCRIBER
        assert Membership.objects.filter(user=user, clinic__name="East Clinic").exists()
        assert "Created dr.new" in output
        assert "(new clinic)" in output

    def test_rerunning_updates_role_and_adds_the_clinic(self, monkeypatch):
        create_clinician(
            "pat",
            "--role",
            "prescriber",
            "--clinic",
            "East",
            "--password-stdin",
            stdin_text=GOOD_PASSWORD,
            monkeypatch=monkeypatch,
        )
        output = create_clinician(
            "pat",
            "--role",
            "staff",
            "--clinic",
            "West",
            "--password-stdin",
            stdin_text="another-long-passphrase\n",
            monkeypatch=monkeypatch,
        )
        user = User.objects.get(username="pat")
        assert role_of(user) is Role.STAFF
        assert set(user.groups.values_list("name", flat=True)) == {"Clinic staff"}
        assert set(Clinic.objects.filter(memberships__user=user).values_list("name", flat=True)) == {"East", "West"}
        assert user.check_password("another-long-passphrase")
        assert "Updated pat" in output

    def test_an_existing_user_can_be_updated_without_a_password(self, monkeypatch):
        create_clinician(
            "pat",
            "--role",
            "staff",
            "--clinic",
            "East",
            "--password-stdin",
            stdin_text=GOOD_PASSWORD,
            monkeypatch=monkeypatch,
        )
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        create_clinician("pat", "--role", "prescriber", "--clinic", "East")
        user = User.objects.get(username="pat")
        assert role_of(user) is Role.PRESCRIBER
        assert user.check_password(GOOD_PASSWORD)

    def test_a_weak_password_is_refused_and_nothing_is_created(self, monkeypatch):
        with pytest.raises(CommandError, match="Password refused"):
            create_clinician(
                "weak",
                "--role",
                "staff",
                "--clinic",
                "East",
                "--password-stdin",
                stdin_text="short\n",
                monkeypatch=monkeypatch,
            )
        assert not User.objects.filter(username="weak").exists()
        assert not Clinic.objects.filter(name="East").exists()

    def test_an_empty_stdin_is_refused(self, monkeypatch):
        with pytest.raises(CommandError, match="No password"):
            create_clinician(
                "x", "--role", "staff", "--clinic", "East", "--password-stdin", stdin_text="", monkeypatch=monkeypatch
            )

    def test_a_new_user_without_a_terminal_is_told_to_use_password_stdin(self, monkeypatch):
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        with pytest.raises(CommandError, match="--password-stdin"):
            create_clinician("x", "--role", "staff", "--clinic", "East")

    def test_an_unknown_role_is_refused(self):
        with pytest.raises(CommandError):
            call_command("create_clinician", "x", "--role", "nurse", "--clinic", "East")


@pytest.mark.django_db
class TestSeedDemo:
    def test_loads_a_clinic_two_accounts_and_patients_with_doses(self, settings):
        settings.DEBUG = True
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        clinic = Clinic.objects.get(name=DEMO_CLINIC)
        assert clinic.patients.count() >= 8
        assert len({d.condition_id for p in clinic.patients.all() for d in p.diagnoses.all()}) >= 8
        assert TitrationPlan.objects.filter(patient__clinic=clinic, is_active=True).count() == clinic.patients.count()
        assert DoseEntry.objects.filter(patient__clinic=clinic).count() > 300
        for role, (username, password, *_rest) in DEMO_ACCOUNTS.items():
            user = User.objects.get(username=username)
            assert user.check_password(password)
            assert role_of(user) is role
            assert f"{username} / {password}" in out.getvalue()

    def test_is_idempotent(self, settings):
        settings.DEBUG = True
        call_command("seed_demo", stdout=io.StringIO())
        counts = (Patient.objects.count(), DoseEntry.objects.count(), User.objects.count())
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        assert (Patient.objects.count(), DoseEntry.objects.count(), User.objects.count()) == counts
        assert "already loaded" in out.getvalue()

    def test_if_empty_leaves_a_database_with_patients_alone(self, settings, patient):
        settings.DEBUG = True
        call_command("seed_demo", "--if-empty", stdout=io.StringIO())
        assert not Clinic.objects.filter(name=DEMO_CLINIC).exists()

    def test_refuses_when_debug_is_off(self, settings):
        settings.DEBUG = False
        with pytest.raises(CommandError, match="DEBUG=0"):
            call_command("seed_demo", stdout=io.StringIO())
        assert not Clinic.objects.filter(name=DEMO_CLINIC).exists()
