"""What every signed-in request costs before its view: the session and the user with its principal.

The principal (accounts.principal) carries the roles, permissions, clinics and two-factor state, so the
permission checks, the role, the clinic scope and the two-factor rules cost no query of their own. These
tests really commit (as in production), so the counts hold the request's BEGIN and COMMIT and nothing a
test's own transaction would add.
"""

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse

from accounts.two_factor import two_factor_status
from ldn_tracker import urls as root_urls
from patients.access import clinics_for, patients_for
from patients.roles import role_of
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True)]

# Session, user with its principal, and the request's BEGIN and COMMIT.
FLOOR_MAX_QUERIES = 4
# The two-factor page's own work: the authenticator and the count of recovery codes.
TWO_FACTOR_PAGE_MAX_QUERIES = FLOOR_MAX_QUERIES + 2


def everything_every_view_asks(request: HttpRequest) -> HttpResponse:
    """A view that asks what views and templates ask of the user, and reads nothing else."""
    user = request.user
    facts = [
        user.has_perm("patients.view_patient"),
        user.has_perm("titration.add_doseentry"),
        role_of(user),
        two_factor_status(user),
        str(patients_for(user).query),
        str(clinics_for(user).query),
    ]
    return HttpResponse(repr(facts))


# The app's own URLs as well, for the sign-in and two-factor redirects.
urlpatterns = [path("floor/", everything_every_view_asks), *root_urls.urlpatterns]


@pytest.fixture
def superuser(clinic):
    return User.objects.create_superuser("root", password="x")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("who", ["prescriber", "staff", "superuser"])
def test_a_signed_in_request_costs_at_most_4_queries_before_the_view(request, who, django_assert_max_num_queries):
    client = client_for(request.getfixturevalue(who))
    with django_assert_max_num_queries(FLOOR_MAX_QUERIES):
        response = client.get("/floor/")
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["prescriber", "staff", "superuser"])
def test_the_two_factor_page_costs_the_floor_and_its_own_two_queries(request, who, django_assert_max_num_queries):
    client = client_for(request.getfixturevalue(who))
    client.get(reverse("accounts:two-factor"))  # the session's first renewal is written here, not below
    with django_assert_max_num_queries(TWO_FACTOR_PAGE_MAX_QUERIES):
        response = client.get(reverse("accounts:two-factor"))
    assert response.status_code == 200


@pytest.mark.urls(__name__)
def test_the_view_sees_the_roles_and_permissions_of_the_request(prescriber, staff):
    assert "True, True, <Role.PRESCRIBER" in client_for(prescriber).get("/floor/").content.decode()
    assert "True, False, <Role.STAFF" in client_for(staff).get("/floor/").content.decode()
