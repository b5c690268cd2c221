"""The benchmark's own PostgreSQL database: its name, creation, COPY, and the indexes built after the load."""

from __future__ import annotations

import datetime
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "ldn_bench"
DATABASE_PREFIX = "ldn_bench"


class BenchDatabaseError(ValueError):
    """A database the benchmark must not touch."""


def check_database_name(name: str) -> str:
    """The name, if it is a benchmark database (``ldn_bench…``); anything else is refused."""
    if not name.startswith(DATABASE_PREFIX) or not re.fullmatch(r"[a-z0-9_]+", name):
        raise BenchDatabaseError(
            f"Refusing to use the database {name!r}: the benchmark only drops and fills databases whose "
            f"name starts with {DATABASE_PREFIX!r} (lower-case letters, digits and _)."
        )
    return name


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{check_database_name(name)}"


@dataclass(frozen=True)
class GenerateConfig:
    database: str = DEFAULT_DATABASE
    server_url: str = DEFAULT_SERVER_URL
    clinics: int = 10
    patients: int = 10_000
    save_pool: int = 20  # per clinic
    seed: int = 2026
    today: datetime.date | None = None
    progress: bool = True

    @property
    def url(self) -> str:
        return database_url(self.server_url, self.database)


def _maintenance(config: GenerateConfig) -> psycopg.Connection[Any]:
    return psycopg.connect(f"{config.server_url.rstrip('/')}/postgres", autocommit=True)


def drop_database(config: GenerateConfig) -> None:
    name = check_database_name(config.database)
    with _maintenance(config) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def recreate_database(config: GenerateConfig) -> None:
    """Drop and create the benchmark database (only one named ``ldn_bench…``)."""
    drop_database(config)
    with _maintenance(config) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config.database)))


def migrate(config: GenerateConfig) -> None:
    """``manage.py migrate`` against the benchmark database, through DATABASE_URL."""
    env = {**os.environ, "DATABASE_URL": config.url, "DJANGO_SETTINGS_MODULE": "ldn_tracker.settings", "DEBUG": "1"}
    subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(PROJECT_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
        check=True,
        env=env,
        cwd=PROJECT_DIR,
        timeout=600,
    )


def prepare_session(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET synchronous_commit = off")
    try:
        # Skip the per-row foreign key triggers (superuser only); the generator keeps the keys consistent.
        conn.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        conn.execute("SET synchronous_commit = off")


def copy_text(conn: psycopg.Connection[Any], table: str, columns: Iterable[str], text: str) -> None:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(text)


def copy_chunks(conn: psycopg.Connection[Any], columns: dict[str, tuple[str, ...]], chunks: dict[str, str]) -> None:
    """COPY each table's text, in the order of ``columns`` (parents before children)."""
    for table, names in columns.items():
        if chunks.get(table):
            copy_text(conn, table, names, chunks[table])


class Writer(threading.Thread):
    """COPYs the batches the generator hands over, so that generating and loading overlap on two cores.

    A batch maps a table to its COPY text; ``order`` puts parents before children.
    """

    def __init__(self, url: str, columns: dict[str, tuple[str, ...]]) -> None:
        super().__init__(daemon=True)
        self.batches: queue.Queue[dict[str, str] | None] = queue.Queue(maxsize=3)
        self.url = url
        self.columns = columns
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url) as conn:
                prepare_session(conn)
                while (batch := self.batches.get()) is not None:
                    copy_chunks(conn, self.columns, batch)
                    conn.commit()
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            while self.batches.get() is not None:
                pass

    def put(self, batch: dict[str, str]) -> None:
        if self.error is not None:
            raise RuntimeError("loading the benchmark data failed") from self.error
        self.batches.put(batch)

    def close(self) -> None:
        self.batches.put(None)
        self.join()
        if self.error is not None:
            raise RuntimeError("loading the benchmark data failed") from self.error


def drop_secondary_indexes(url: str, tables: list[str]) -> list[str]:
    """Drop the tables' indexes other than constraints; returns their definitions, to rebuild after the load.

    Filling the tables first and indexing them afterwards is several times faster than keeping seven
    indexes of the dose table (and as many of its history) up to date row by row.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            ORDER BY i.indexname
            """,
            (tables,),
        ).fetchall()
        for name, _ in rows:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _, definition in rows]


def finish(url: str, indexes: list[str], sequences: dict[str, str]) -> None:
    """Rebuild the indexes, move every sequence past the generated ids, and analyse the tables."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for definition in indexes:
            conn.execute(definition)
        for table, column in sequences.items():
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, {}), coalesce(max({}), 0) + 1, false) FROM {}"
                ).format(sql.Literal(table), sql.Literal(column), sql.Identifier(column), sql.Identifier(table))
            )
        conn.execute("VACUUM (ANALYZE)")


COUNTED_TABLES = {
    "clinics": "patients_clinic",
    "users": "auth_user",
    "patients": "patients_patient",
    "plans": "titration_titrationplan",
    "dose entries": "titration_doseentry",
    "check-ins": "titration_checkin",
    "side effects": "titration_sideeffect",
    "flags": "titration_flag",
    "audit rows of doses": "titration_historicaldoseentry",
    "audit rows of flags": "titration_historicalflag",
}


def _count(conn: psycopg.Connection[Any], query: sql.Composed | str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {
            label: _count(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            for label, table in COUNTED_TABLES.items()
        }
        counts["open flags"] = _count(conn, "SELECT count(*) FROM titration_flag WHERE acknowledged_at IS NULL")
        counts["critical flags"] = _count(conn, "SELECT count(*) FROM titration_flag WHERE severity = 30")
    return counts
