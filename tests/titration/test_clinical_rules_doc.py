"""docs/clinical-rules.md stays true: every test it cites exists, and every flag kind is in it."""

import re
from pathlib import Path

import pytest

from titration.rules import FLAG_KIND_LABELS, FlagKind

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "clinical-rules.md").read_text(encoding="utf-8")
# A test in another folder is cited with its path from the root ("tests/medications/test_rules.py::...").
CITED = sorted(set(re.findall(r"`((?:tests/[a-z_]+/)?test_[a-z_0-9]+\.py(?:::[A-Za-z_0-9]+)+)`", DOC)))


def test_the_document_cites_tests():
    assert len(CITED) > 40


@pytest.mark.parametrize("cited", CITED)
def test_every_cited_test_exists(cited):
    file, *names = cited.split("::")
    path = ROOT / file if file.startswith("tests/") else ROOT / "tests" / "titration" / file
    source = path.read_text(encoding="utf-8")
    for name in names:
        keyword = "class" if name.startswith("Test") else "def"
        assert re.search(rf"^\s*{keyword} {name}\b", source, re.MULTILINE), f"{cited} is not in {file}"


@pytest.mark.parametrize("kind", list(FlagKind))
def test_every_flag_kind_is_documented_with_its_label(kind):
    assert f"| `{kind.value}` | {FLAG_KIND_LABELS[kind]} |" in DOC
