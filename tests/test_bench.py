"""The benchmark's generator still works (at a tiny size), and never touches a database not meant for it."""

from __future__ import annotations

import datetime
import os
import urllib.parse

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from bench.__main__ import main as bench_main
from bench.generate import (
    REFERENCE_5_YEARS,
    REFERENCE_30_DAYS,
    BenchDatabaseError,
    GenerateConfig,
    check_database_name,
    drop_database,
    generate,
)


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
            assert (start is not None and start[0] == today.replace(year=today.year - 5)) or start[0] == datetime.date(
                today.year - 5, today.month, 28
            )
            flagged = "SELECT count(*) FROM titration_flag f JOIN titration_doseentry d ON d.id = f.dose_entry_id"
            assert one(flagged) > 0
            # Every flag belongs to its dose's patient; every dose to a plan of its patient.
            assert one(f"{flagged} WHERE f.patient_id <> d.patient_id") == 0
            plans = "SELECT count(*) FROM titration_doseentry d JOIN titration_titrationplan t ON t.id = d.plan_id"
            assert one(f"{plans} WHERE t.patient_id <> d.patient_id") == 0
            assert one("SELECT count(*) FROM auth_user") == 2
        assert counts["clinics"] == 1
        assert counts["patients"] == 3 + 6 + 1
        assert counts["dose entries"] > 4 * 1800
        assert counts["check-ins"] > 0
        assert counts["flags"] > 0
    finally:
        drop_database(config)
