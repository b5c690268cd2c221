"""The benchmark's generator still works (at a tiny size), follows the models' fields, fills the audit history,
and never touches a database not meant for it; the saturation point and the targets are read as intended."""

from __future__ import annotations

import datetime
import os
import urllib.parse

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from bench.__main__ import main as bench_main
from bench.datagen.columns import NULL, MissingColumnError, Table
from bench.datagen.tables import tables
from bench.generate import (
    REFERENCE_5_YEARS,
    REFERENCE_30_DAYS,
    BenchDatabaseError,
    GenerateConfig,
    check_database_name,
    drop_database,
    generate,
    lead_clinic_counts,
)
from bench.load import saturation_point
from bench.targets import checks
from titration.models import DoseEntry


@pytest.mark.parametrize(
    "name", ["test", "ldn", "postgres", "ldn_tracker", "test_ldn_bench", "LDN_BENCH", "ldn_bench;x"]
)
def test_the_generator_refuses_a_database_not_named_ldn_bench(name: str) -> None:
    with pytest.raises(BenchDatabaseError):
        check_database_name(name)
    with pytest.raises(BenchDatabaseError):
        generate(GenerateConfig(database=name, progress=False))
    with pytest.raises(BenchDatabaseError):
        drop_database(GenerateConfig(database=name))


def test_the_command_refuses_a_database_not_named_ldn_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["--database", "ldn_tracker"]) == 2
    assert "Refusing" in capsys.readouterr().err


def _server_url() -> str:
    s = connection.settings_dict
    user = urllib.parse.quote(s.get("USER") or "")
    password = urllib.parse.quote(s.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{credentials}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"


@pytest.mark.django_db
def test_the_generator_fills_a_tiny_benchmark_database() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the benchmark generates into PostgreSQL only")
    config = GenerateConfig(
        database=f"ldn_bench_test_{os.getpid()}",
        server_url=_server_url(),
        clinics=1,
        patients=3,
        save_pool=1,
        progress=False,
    )
    today = timezone.localdate()
    try:
        counts = generate(config, log=lambda _: None)
        with psycopg.connect(config.url) as conn:

            def one(query: str, *params: object) -> int:
                row = conn.execute(query, params).fetchone()
                assert row is not None
                return int(row[0])

            month = "SELECT count(*) FROM titration_doseentry d JOIN patients_patient p ON p.id = d.patient_id"
            first_day = (
                "SELECT min(d.taken_on) FROM titration_doseentry d JOIN patients_patient p ON p.id = d.patient_id"
            )
            assert one(f"{month} WHERE p.mrn = %s AND d.voided_at IS NULL", f"{REFERENCE_30_DAYS}-1") == 30
            start = conn.execute(f"{first_day} WHERE p.mrn = %s", (f"{REFERENCE_5_YEARS}-1",)).fetchone()
            assert start is not None
            assert (start[0] == today.replace(year=today.year - 5)) or start[0] == datetime.date(
                today.year - 5, today.month, 28
            )
            flagged = "SELECT count(*) FROM titration_flag f JOIN titration_doseentry d ON d.id = f.dose_entry_id"
            assert one(flagged) > 0
            # Every flag belongs to its dose's patient; every dose to a plan of its patient.
            assert one(f"{flagged} WHERE f.patient_id <> d.patient_id") == 0
            plans = "SELECT count(*) FROM titration_doseentry d JOIN titration_titrationplan t ON t.id = d.plan_id"
            assert one(f"{plans} WHERE t.patient_id <> d.patient_id") == 0
            assert one("SELECT count(*) FROM auth_user") == 2 + len(lead_clinic_counts(1))
            # The audit trail: a '+' row for every record as created, a '~' row for every later change.
            assert one("SELECT count(*) FROM titration_historicaldoseentry WHERE history_type = '+'") == one(
                "SELECT count(*) FROM titration_doseentry"
            )
            acknowledged = one("SELECT count(*) FROM titration_flag WHERE acknowledged_at IS NOT NULL")
            assert acknowledged > 0
            assert one("SELECT count(*) FROM titration_historicalflag WHERE history_type = '~'") == acknowledged
            assert one("SELECT count(*) FROM patients_historicalpatient") == 3 + 6 + 1
            for table in (
                "titration_historicalcheckin",
                "titration_historicaltitrationplan",
                "patients_historicalclinic",
            ):
                assert one(f"SELECT count(*) FROM {table}") > 0  # noqa: S608 - fixed table names
            history_dates_match = (
                "SELECT count(*) FROM titration_historicaldoseentry h JOIN titration_doseentry d ON d.id = h.id "
                "WHERE h.history_type = '+' AND h.history_date <> d.recorded_at"
            )
            assert one(history_dates_match) == 0
        assert counts["clinics"] == 1
        assert counts["patients"] == 3 + 6 + 1
        assert counts["dose entries"] > 4 * 1800
        assert counts["check-ins"] > 0
        assert counts["flags"] > 0
    finally:
        drop_database(config)


def test_every_generated_table_has_the_columns_of_its_model() -> None:
    for table in tables().all():
        model_columns = tuple(f.column for f in table.model._meta.concrete_fields)
        assert table.columns == model_columns, table.name
        assert table.template.count("\t") == len(model_columns) - 1, table.name


def test_a_dose_line_has_a_cell_per_column_with_defaults_for_the_fields_not_given() -> None:
    dose = tables().dose.record
    values = [str(n) for n in range(len(dose.supplied))]
    cells = dose.raw(*values).rstrip("\n").split("\t")
    by_column = dict(zip(dose.columns, cells, strict=True))
    assert by_column["taken_on"] == str(dose.supplied.index("taken_on"))
    assert by_column["time_of_day"] == "bedtime"  # the field's database default
    assert by_column["course_after"] == NULL  # nullable, not given
    assert by_column["notes"] == ""  # text, blank


def test_a_required_field_the_generator_does_not_fill_stops_it() -> None:
    supplied = tuple(name for name in tables().dose.record.supplied if name != "taken_on")
    with pytest.raises(MissingColumnError, match="taken_on"):
        Table.of(DoseEntry, supplied)
    with pytest.raises(MissingColumnError, match="no_such_field"):
        Table.of(DoseEntry, (*supplied, "taken_on", "no_such_field"))


def test_the_saturation_point_lies_between_the_steps_around_500_ms() -> None:
    steps = [
        {"users": 1, "rps": 10.0, "p95_ms": 100},
        {"users": 2, "rps": 18.0, "p95_ms": 300},
        {"users": 4, "rps": 22.0, "p95_ms": 700},
    ]
    assert saturation_point(steps) == {"rps": 20.0, "bound": ""}
    assert saturation_point(steps[:2]) == {"rps": 18.0, "bound": "more than"}
    assert saturation_point(steps[2:]) == {"rps": 22.0, "bound": "at most"}


def _page(key: str, median_ms: float, queries: int) -> dict[str, object]:
    return {"key": key, "page": key, "median_ms": median_ms, "queries": queries}


def test_the_targets_are_ratios_to_the_floor_of_the_same_run() -> None:
    pages = [
        _page("floor", 20, 6),
        _page("patient_30d", 40, 12),
        _page("patient_5y", 44, 12),
        _page("patient_5y_all", 70, 12),
        _page("worklist_2", 50, 9),
        _page("worklist_10", 70, 10),
        _page("dose_save", 41, 12),
    ]
    verdicts = {check.target: check.met for check in checks({"pages": pages})}
    assert verdicts["Floor: ≤ 4 queries before the view (BEGIN and COMMIT included)"] is True  # 6 - its own 2
    assert verdicts["Patient page: median ≤ 2.5x the floor's"] is True
    assert verdicts["Patient page: 5 years ≤ 1.2x 30 days"] is True
    assert verdicts['Patient page: "all" chart ≤ 1.5x the 90-day chart'] is False
    assert verdicts["Worklist: ≤ 12 queries, the same at 2 and 10 clinics"] is False  # 9 and 10 queries
    assert verdicts["Worklist: ≤ 3x the floor"] is False  # 3.5x at 10 clinics
    assert verdicts["Dose save: ≤ 12 queries, ≤ 2x the floor"] is False  # 2.05x


def test_the_fhir_bundle_is_held_to_a_bound_on_its_queries_not_to_the_30_day_patient_s_count() -> None:
    def verdict(short: int, long: int, fhir_ms: float) -> bool | None:
        pages = [
            _page("floor", 20, 6),
            _page("export_5y", 100, 9),
            _page("fhir_30d", 60, short),
            _page("fhir_5y", fhir_ms, long),
        ]
        [fhir] = [check for check in checks({"pages": pages}) if check.target.startswith("FHIR")]
        return fhir.met

    assert verdict(18, 22, 300) is True  # fewer resource types for 30 days: still within the bound
    assert verdict(18, 27, 300) is False  # more than the bound: queries that grow with the record
    assert verdict(18, 22, 301) is False  # more than 3x the CSV export's 100 ms
