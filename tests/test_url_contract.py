"""The public URL contract: the paths that bookmarks, printed pages, EHR links and the README name.

Every other test builds its URLs with ``reverse()``; this one pins what ``reverse()`` must keep giving, so a
renamed path fails here, once, by name.
"""

import pytest
from django.urls import resolve, reverse

CONTRACT = [
    ("titration:dashboard", [], "/"),
    ("titration:worklist", [], "/worklist/"),
    ("patients:list", [], "/patients/"),
    ("patients:create", [], "/patients/new/"),
    ("titration:patient", [7], "/patients/7/"),
    ("patients:edit", [7], "/patients/7/edit/"),
    ("titration:dose-create", [7], "/patients/7/doses/new/"),
    ("titration:dose-diary", [7], "/patients/7/doses/diary/"),
    ("titration:dose-log-expected", [7], "/patients/7/doses/log-expected/"),
    ("titration:dose-void", [7, 3], "/patients/7/doses/3/void/"),
    ("titration:plan", [7], "/patients/7/plan/"),
    ("titration:plan-state", [7], "/patients/7/plan/state/"),
    ("titration:checkin-create", [7], "/patients/7/checkins/new/"),
    ("titration:checkin-void", [7, 3], "/patients/7/checkins/3/void/"),
    ("titration:export", [7], "/patients/7/export.csv"),
    ("titration:history", [7], "/patients/7/history/"),
    ("titration:schedule", [7], "/patients/7/schedule/"),
    ("titration:flags", [], "/flags/"),
    ("titration:flag-acknowledge", [3], "/flags/3/acknowledge/"),
    ("titration:flag-comment", [3], "/flags/3/comment/"),
    ("titration:outcomes", [], "/outcomes/"),
    ("titration:outcomes-export", [], "/outcomes/research-export.csv"),
    ("medications:list", [7], "/patients/7/medications/"),
    ("medications:safety", [7], "/patients/7/safety/"),
    ("patients:access-csv", [7], "/patients/7/access.csv"),
    ("patients:access-log", [], "/audit/access/"),
    ("patients:clinic-settings", [2], "/clinics/2/settings/"),
    ("importer:upload", [], "/import/"),
    ("importer:batch", [5], "/import/5/"),
    ("fhir:metadata", [], "/fhir/metadata"),
    ("fhir:token", [], "/fhir/auth/token"),
    ("fhir:everything", [7], "/fhir/Patient/7/$everything"),
    ("fhir:read", ["Patient", "7"], "/fhir/Patient/7"),
    ("fhir:download", [7], "/patients/7/export.fhir.json"),
    ("login", [], "/accounts/login/"),
    ("accounts:two-factor", [], "/accounts/two-factor/"),
]


@pytest.mark.parametrize(("name", "args", "path"), CONTRACT)
def test_the_documented_path_is_what_reverse_gives_and_resolves_back(name, args, path):
    assert reverse(name, args=args) == path
    assert resolve(path).view_name == name
