"""Benchmark the inactive-account job at agency scale, on the project's own schema (issue 18, item 9).

For each database and data set (users, sessions per user, share of INACTIVE
users), on one deterministic data set where ``due`` ACTIVE users are due:

1. the first real run of the day: the daily reconciliation of the view, then
   the ``due`` users disabled; its run record is kept, so the hourly runs
   after it do not reconcile (the service decides by that record);
2. the hourly run with nobody due, on PostgreSQL twice: after a plain
   ANALYZE of the freshly loaded tables (never vacuumed), then after VACUUM
   ANALYZE (as autovacuum leaves them): ``find_inactive_users`` alone, and the
   whole rule part of a run (``hourly_job.run_rule``: lock, the one probe
   of what housekeeping is owed, search, unlock), with its statements, its
   connection checkouts and EXPLAIN (ANALYZE, BUFFERS) of each statement;
3. the daily reconciliation alone (``reconcile_view``), and a first run of a
   day with nobody due; on PostgreSQL, EXPLAIN (ANALYZE) of its statements on
   the application's connection (JIT off) and with ``SET LOCAL jit = on``;
4. the search with one user due, and with ``due`` users due, beside a naive
   per-user loop whose answer must be equal, and the prepared search under a
   generic and a custom plan;
5. a run that disables ``due`` users (undone and repeated), statements per user;
6. the real ``flask disable-inactive-users`` process, with its peak RSS;
7. PostgreSQL: what OPS's request costs (``UPDATE user_session SET
   last_active_at ... ; COMMIT``) with this project's triggers and without
   them, interleaved in one process, when it falls within the view's minute
   and when it moves the view;
8. PostgreSQL, clearly apart: two changes of the application's SQL proposed
   by the figures (a search driven from the view row by row, an hourly run
   that probes before it corrects), measured on the same data. They are
   sketches for comparison, not the service's code.

Everything the job does goes through the application's own engine
(``create_app``: JIT off, lock_timeout, pre-ping), as the job connects.

Run with the project's virtualenv, from the repository root:

    python benchmarks/bench_inactive_users.py --json benchmarks/results-own-schema.json

PostgreSQL work happens in a database of its own (``--pg-database``, dropped
afterwards), SQLite in a temporary file. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exists, func, or_, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ops_api.advisory_lock import LockPurpose, try_advisory_lock
from ops_api.clock import utcnow
from ops_api.devtools import load_data
from ops_api.domain import inactivity
from ops_api.domain.defaults import DEFAULT_EXCLUDED_OIDC_IDS, DEFAULT_INACTIVE_DAYS, SYSTEM_ADMIN_OIDC_ID
from ops_api.models import JobRun, MovedSession, OpsDBHistory, OpsEvent, User, UserActivity, UserSession, UserStatus
from ops_api.models.state import activity_watermark
from ops_api.services.job import job_runs
from ops_api.services.job.hourly_job import run_rule
from ops_api.services.users.user_deactivation import (
    FUTURE_ACTIVITY_ALLOWANCE,
    RECONCILE_EVERY,
    DeactivationReport,
    UserDeactivationService,
)
from ops_api.sql import OWN_SCHEMA, latest_of

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INACTIVE_DAYS = DEFAULT_INACTIVE_DAYS
# The triggers this project puts on OPS's user_session (migration s0002).
SESSION_TRIGGERS = load_data.VIEW_TRIGGERS["user_session"]


# -- data sets ------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    """What the loader makes: ``users`` users with ``sessions_per_user`` sessions each.

    ``inactive_share`` None is the loader's realistic spread (7% INACTIVE, their
    activity over 400 days); a share makes that many INACTIVE, all idle more
    than 60 days, as years of hourly runs leave them.
    """

    users: int
    sessions_per_user: int = 10
    inactive_share: float | None = None

    @classmethod
    def parse(cls, text: str) -> DataSet:
        """``users[:sessions_per_user[:inactive_share]]``, e.g. ``1000000:10:0.5``."""
        parts = text.split(":")
        return cls(
            users=int(parts[0]),
            sessions_per_user=int(parts[1]) if len(parts) > 1 and parts[1] else 10,
            inactive_share=float(parts[2]) if len(parts) > 2 and parts[2] else None,
        )

    @property
    def name(self) -> str:
        inactive = f", {self.inactive_share:.0%} INACTIVE long idle" if self.inactive_share is not None else ""
        return f"{self.users:,} users x {self.sessions_per_user} sessions{inactive}"

    def load_options(self) -> dict[str, Any]:
        if self.inactive_share is None:
            return {}
        return {"inactive_share": self.inactive_share, "inactive_long_idle": True}


# -- measuring ----------------------------------------------------------------


@dataclass
class Sent:
    """What the engine sent while a block ran: statements (with parameters) and connection checkouts."""

    statements: list[tuple[str, Any]] = field(default_factory=list)
    checkouts: int = 0


@contextmanager
def watching(engine: sa.Engine) -> Iterator[Sent]:
    """Collect every SQL statement the engine sends, and count its pool checkouts (each one a pre-ping round trip)."""
    sent = Sent()

    def statement(conn: Any, cursor: Any, text: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.statements.append((text, parameters))

    def checkout(*_: Any) -> None:
        sent.checkouts += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "checkout", checkout)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "checkout", checkout)


@dataclass
class Timing:
    seconds: list[float]
    statements: int
    checkouts: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": round(self.median * 1000, 3),
            "min_ms": round(min(self.seconds) * 1000, 3),
            "max_ms": round(max(self.seconds) * 1000, 3),
            "runs": len(self.seconds),
            "statements": self.statements,
            "checkouts": self.checkouts,
        }


def measure(engine: sa.Engine, action: Callable[[], Any], *, repeat: int, between: Callable[[], Any] | None = None) -> tuple[Timing, Any]:
    """Run ``action`` ``repeat`` times; statements and checkouts counted on the last run; returns the last result."""
    seconds, result, statements, checkouts = [], None, 0, 0
    for _ in range(repeat):
        if between is not None:
            between()
        with watching(engine) as sent:
            started = time.perf_counter()
            result = action()
            seconds.append(time.perf_counter() - started)
        statements, checkouts = len(sent.statements), sent.checkouts
    return Timing(seconds, statements, checkouts), result


# -- databases and engines --------------------------------------------------------


def bench_schema() -> str:
    """The schema of OPS's tables on PostgreSQL: OPS_DB_SCHEMA, as for the application."""
    return os.environ.get("OPS_DB_SCHEMA", "ops")


def bench_own_schema() -> str:
    """This project's own schema on PostgreSQL: OPS_DEACTIVATION_SCHEMA, as for the application."""
    return os.environ.get("OPS_DEACTIVATION_SCHEMA", "user_deactivation")


def translate_map(url: str) -> dict[str | None, str | None]:
    """The application's schema_translate_map for this database (see ops_api.config)."""
    if url.startswith("postgresql"):
        return {None: bench_schema(), OWN_SCHEMA: bench_own_schema()}
    return {OWN_SCHEMA: "main"}


def open_engine(url: str, **options: Any) -> sa.Engine:
    """A plain engine aimed at OPS's schema and this project's own: OPS's side of the database (its requests)."""
    options.setdefault("execution_options", {})["schema_translate_map"] = translate_map(url)
    return sa.create_engine(url, **options)


def app_engine(url: str) -> sa.Engine:
    """The application's own engine for ``url`` (create_app): as the job connects, JIT off, lock_timeout, pre-ping.

    psycopg 3 would prepare a statement on the server once a connection has
    sent it five times; the job sends each of its statements once a run, so
    the benchmark's repetitions must not be served prepared plans.
    """
    from ops_api import create_app
    from ops_api.extensions import db

    options: dict[str, Any] = {}
    if sa.make_url(url).drivername in ("postgresql+psycopg", "postgresql"):
        options["connect_args"] = {"prepare_threshold": None}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options})
    with app.app_context():
        return db.engine


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    from ops_api import create_app
    from ops_api.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@contextmanager
def postgresql_database(base_url: str, name: str) -> Iterator[str]:
    """A fresh, migrated database for the benchmark alone, dropped afterwards.

    A database rather than a schema: PostgreSQL's advisory locks (the job's
    one-run-at-a-time lock) are per database, so test runs in other
    databases on the same server cannot make the benchmark's runs skip.
    """
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sqlite_file(directory: str | None) -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="ops-bench-", dir=directory)
    url = f"sqlite:///{folder}/bench.db"
    try:
        migrate(url)
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measured_tables() -> list[str]:
    schema, own = bench_schema(), bench_own_schema()
    return [f'"{schema}".ops_user', f'"{schema}".user_session', f'"{own}".user_activity']


def autovacuum(engine: sa.Engine, *, enabled: bool) -> None:
    """Keep autovacuum off the measured tables while the never-vacuumed state is measured (PostgreSQL)."""
    with engine.begin() as connection:
        for table in _measured_tables():
            setting = "RESET (autovacuum_enabled)" if enabled else "SET (autovacuum_enabled = false)"
            connection.execute(sa.text(f"ALTER TABLE {table} {setting}"))


def vacuum_analyze(engine: sa.Engine, tables: list[str] | None = None) -> None:
    """VACUUM ANALYZE (PostgreSQL) or ANALYZE (SQLite) of the measured tables, as autovacuum leaves them."""
    if engine.dialect.name != "postgresql":
        load_data.analyze(engine)
        return
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables or _measured_tables():
            connection.execute(sa.text(f"VACUUM ANALYZE {table}"))


# -- the job's records and undoing its work -------------------------------------------


def forget_runs(engine: sa.Engine) -> None:
    """Delete every run record, so the next real run is the day's first and reconciles."""
    with engine.begin() as connection:
        connection.execute(sa.delete(JobRun))


def rule_run(service: UserDeactivationService, now: datetime) -> DeactivationReport:
    """The rule's part of a real run, through the job's own code (hourly_job.run_rule), uncapped."""
    report = DeactivationReport(as_of=now, threshold_days=service.inactive_days, dry_run=False, max_disable=0)
    run_rule(service, report, now=now, should_stop=lambda: False)
    return report


def record_run(engine: sa.Engine, report: Any, now: datetime) -> None:
    """Leave the record a run leaves (job_runs.record_run), at the benchmark's ``now``."""
    with Session(engine) as session:
        job_runs.record_run(session, report, now=now)


def undo_deactivations(engine: sa.Engine, user_ids: list[int]) -> None:
    """Make the given users ACTIVE again and forget the run's events, as if it never happened."""
    with engine.begin() as connection:
        if user_ids:
            # Making them ACTIVE by hand counts as a reactivation (the trigger stamps the view): put the
            # view's loaded reactivation moments back, so the next repetition finds them due again.
            view = UserActivity.__table__
            before = connection.execute(select(view.c.user_id, view.c.reactivated_on).where(view.c.user_id.in_(user_ids))).all()
            connection.execute(sa.update(User).where(User.id.in_(user_ids)).values(status=UserStatus.ACTIVE))
            connection.execute(
                sa.update(view).where(view.c.user_id == sa.bindparam("uid")).values(reactivated_on=sa.bindparam("was")),
                [{"uid": user_id, "was": was} for user_id, was in before],
            )
        connection.execute(sa.delete(OpsEvent))
        connection.execute(sa.delete(OpsDBHistory))


# -- the naive baseline -------------------------------------------------------


def naive_inactive_users(session: Session, *, now: datetime, inactive_days: int = INACTIVE_DAYS) -> list[tuple[int, str | None, datetime]]:
    """The obvious script: load every user with the view's row, then one query per ACTIVE user for the latest session.

    Applies the rule through its Python reference (ops_api.domain.inactivity:
    the view's activity, reactivation and creation dates and the latest
    session; activity later than now counts as now) so its answer can be
    checked equal to ``find_inactive_users``.
    """
    excluded = {*DEFAULT_EXCLUDED_OIDC_IDS, SYSTEM_ADMIN_OIDC_ID}
    due = []
    rows = session.execute(select(User, UserActivity).outerjoin(UserActivity, UserActivity.user_id == User.id)).all()
    for user, view in rows:
        if user.status is not UserStatus.ACTIVE or user.oidc_id in excluded or view is None or not view.is_active:
            continue
        latest = session.scalar(
            select(func.max(UserSession.last_active_at)).where(
                UserSession.user_id == user.id, UserSession.last_active_at <= now + FUTURE_ACTIVITY_ALLOWANCE
            )
        )
        seen = inactivity.last_seen(
            now=now, activity=view.last_active_at, latest_session=latest, reactivated_on=view.reactivated_on, created_on=view.created_on
        )
        if seen is not None and inactivity.is_due(seen, now, timedelta(days=inactive_days)):
            due.append((user.id, user.email, seen))
    session.rollback()
    return sorted(due, key=lambda row: (row[2], row[0]))


# -- plans ----------------------------------------------------------------------------

_EXPLAINED = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_NOT_EXPLAINED = ("pg_try_advisory_lock", "pg_advisory_unlock", "pg_advisory_lock")


def sent_by(engine: sa.Engine, action: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run ``action`` once; the statements it sent, with their parameters."""
    with watching(engine) as sent:
        action()
    return sent.statements


def explain_statements(
    engine: sa.Engine, statements: list[tuple[str, Any]], *, jit: bool | None = None, jit_above_cost: int | None = None
) -> list[dict[str, Any]]:
    """EXPLAIN each statement, with its parameters, on a connection of ``engine``.

    PostgreSQL: EXPLAIN (ANALYZE, BUFFERS), each in a transaction rolled back
    (statements that write are executed too); ``jit`` True or False sets it
    for that transaction only, None leaves the connection's own setting (the
    application's: off); ``jit_above_cost`` likewise (0: every statement is
    compiled, as it would be once its estimated cost crossed the server's
    threshold). Advisory lock calls are not explained. SQLite:
    EXPLAIN QUERY PLAN.
    """
    postgresql_db = engine.dialect.name == "postgresql"
    plans = []
    for statement, parameters in statements:
        if not _EXPLAINED.match(statement) or any(name in statement for name in _NOT_EXPLAINED):
            continue
        with engine.connect() as connection:
            transaction = connection.begin()
            jit_setting = None
            if postgresql_db:
                if jit is not None:
                    connection.exec_driver_sql(f"SET LOCAL jit = {'on' if jit else 'off'}")
                if jit_above_cost is not None:
                    connection.exec_driver_sql(f"SET LOCAL jit_above_cost = {int(jit_above_cost)}")
                jit_setting = connection.exec_driver_sql("SHOW jit").scalar()
            cursor = connection.connection.driver_connection.cursor()
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgresql_db else "EXPLAIN QUERY PLAN "
            cursor.execute(prefix + statement, parameters)
            lines = [row[0] if postgresql_db else " ".join(str(value) for value in row) for row in cursor.fetchall()]
            cursor.close()
            transaction.rollback()
        plan = "\n".join(lines)
        plans.append({"statement": statement, "jit_setting": jit_setting, "plan": plan, **plan_figures(plan)})
    return plans


def explain_sent(engine: sa.Engine, action: Callable[[], Any], *, jit: bool | None = None) -> list[dict[str, Any]]:
    """Run ``action`` once, then explain each statement it sent (see explain_statements)."""
    return explain_statements(engine, sent_by(engine, action), jit=jit)


def plan_figures(plan: str) -> dict[str, Any]:
    """Execution time, planning time and any JIT section of an EXPLAIN ANALYZE text."""
    figures: dict[str, Any] = {}
    for key, pattern in (("execution_ms", r"Execution Time: ([\d.]+) ms"), ("planning_ms", r"Planning Time: ([\d.]+) ms")):
        found = re.search(pattern, plan)
        figures[key] = float(found.group(1)) if found else None
    figures["has_jit_section"] = bool(re.search(r"^\s*JIT:", plan, re.MULTILINE))
    total = re.search(r"Timing: .*Total ([\d.]+) ms", plan)
    functions = re.search(r"Functions: (\d+)", plan)
    figures["jit_total_ms"] = float(total.group(1)) if total else None
    figures["jit_functions"] = int(functions.group(1)) if functions else None
    return figures


def _postgresql_sql(statement: sa.Select[Any]) -> tuple[str, list[Any]]:
    """The statement as PostgreSQL text with $1, $2... and its parameter values."""
    compiled = statement.compile(
        dialect=postgresql.dialect(paramstyle="pyformat"),
        compile_kwargs={"render_postcompile": True},
        schema_translate_map=translate_map("postgresql"),
        render_schema_translate=True,
    )
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", number, str(compiled))
    values = [compiled.params[name] for name in names]
    return sql, [v.name if isinstance(v, enum.Enum) else v for v in values]


def _postgresql_params(statement: sa.Select[Any]) -> list[Any]:
    """The statement's parameter values in $n order, before enums become their names."""
    compiled = statement.compile(dialect=postgresql.dialect(paramstyle="pyformat"), compile_kwargs={"render_postcompile": True})
    return [compiled.params[name] for name in re.findall(r"%\((\w+)\)s", str(compiled))]


def _postgresql_type(value: Any) -> str:
    if isinstance(value, UserStatus):
        return f'"{bench_schema()}".userstatus'
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, uuid.UUID):
        return "uuid"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "text"


def _client_side_cursor(raw: Any) -> Any:
    if type(raw).__module__.startswith("psycopg2"):
        return raw.cursor()
    import psycopg

    return psycopg.ClientCursor(raw)


def generic_vs_custom(engine: sa.Engine, statement: sa.Select[Any], *, repeat: int) -> dict[str, Any]:
    """Time EXECUTE of the prepared search under a forced custom and a forced generic plan."""
    sql, values = _postgresql_sql(statement)
    result: dict[str, Any] = {}
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        # Values are quoted client-side into EXECUTE; the server sees the same
        # parameters a prepared statement of the application would get.
        # (psycopg2's cursors always quote client-side; psycopg 3 needs ClientCursor.)
        with _client_side_cursor(raw) as cursor:
            types = ", ".join(_postgresql_type(v) for v in _postgresql_params(statement))
            cursor.execute(f"PREPARE ops_bench_candidates ({types}) AS " + sql)
            placeholders = ", ".join(["%s"] * len(values))
            for mode in ("force_custom_plan", "force_generic_plan"):
                cursor.execute(f"SET plan_cache_mode = {mode}")
                seconds = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    cursor.execute(f"EXECUTE ops_bench_candidates ({placeholders})", values)
                    cursor.fetchall()
                    seconds.append(time.perf_counter() - started)
                cursor.execute(f"EXPLAIN (ANALYZE) EXECUTE ops_bench_candidates ({placeholders})", values)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                result[mode] = {"median_ms": round(statistics.median(seconds) * 1000, 3), "runs": repeat, "plan": plan}
            cursor.execute("DEALLOCATE ops_bench_candidates")
            cursor.execute("RESET plan_cache_mode")
        raw.rollback()
    custom, generic = result["force_custom_plan"]["median_ms"], result["force_generic_plan"]["median_ms"]
    result["generic_over_custom"] = round(generic / custom, 2) if custom else None
    return result


def jit_comparison(engine: sa.Engine, action: Callable[[], Any]) -> dict[str, Any]:
    """The statements of ``action`` explained on the application's connection as it is (JIT off), with jit = on
    (the server's default), and with jit = on and jit_above_cost = 0 (what compiling them would cost, had their
    estimated cost crossed the threshold; the thresholds for inlining and optimization stay the server's)."""
    statements = sent_by(engine, action)
    off = explain_statements(engine, statements)
    on = explain_statements(engine, statements, jit=True)
    forced = explain_statements(engine, statements, jit=True, jit_above_cost=0)
    with engine.connect() as connection, connection.begin():
        # pg_jit_available() also reads the jit setting, which the application turns off.
        connection.exec_driver_sql("SET LOCAL jit = on")
        available = bool(connection.exec_driver_sql("SELECT pg_jit_available()").scalar())

    def total(plans: list[dict[str, Any]], key: str) -> float:
        return round(sum(p[key] or 0.0 for p in plans), 3)

    return {
        "jit_available": available,
        "app_connection_jit_setting": sorted({p["jit_setting"] for p in off}),
        "app_connection_plans_with_jit_section": sum(p["has_jit_section"] for p in off),
        "app_connection_execution_ms": total(off, "execution_ms"),
        "jit_on_plans_with_jit_section": sum(p["has_jit_section"] for p in on),
        "jit_on_execution_ms": total(on, "execution_ms"),
        "jit_on_jit_ms": total(on, "jit_total_ms"),
        "jit_forced_execution_ms": total(forced, "execution_ms"),
        "jit_forced_jit_ms": total(forced, "jit_total_ms"),
        "statements": [
            {
                "statement": a["statement"][:120],
                "app_connection": {k: a[k] for k in ("execution_ms", "has_jit_section")},
                "jit_on": {k: b[k] for k in ("execution_ms", "has_jit_section", "jit_total_ms", "jit_functions")},
                "jit_forced": {k: c[k] for k in ("execution_ms", "jit_total_ms", "jit_functions")},
                "estimated_cost": _estimated_cost(a["plan"]),
            }
            for a, b, c in zip(off, on, forced, strict=True)
        ],
        "app_connection_plans": [p["plan"] for p in off],
        "jit_on_plans": [p["plan"] for p in on],
        "jit_forced_plans": [p["plan"] for p in forced],
    }


def _estimated_cost(plan: str) -> float | None:
    """The planner's total cost estimate of the plan's top node."""
    found = re.search(r"cost=[\d.]+\.\.([\d.]+)", plan)
    return float(found.group(1)) if found else None


# -- recording activity: OPS's request, with and without this project's triggers ----------

_SESSION_WRITE = "UPDATE {sessions} SET last_active_at = %s WHERE id = %s"


def _raw_connection(engine: sa.Engine, *setup: str) -> Any:
    """A driver connection as OPS's application holds one (no server-side prepared statements), after ``setup``."""
    connection = engine.raw_connection()
    driver = connection.driver_connection
    if hasattr(driver, "prepare_threshold"):
        driver.prepare_threshold = None
    with driver.cursor() as cursor:
        for statement in setup:
            cursor.execute(statement)
    driver.commit()
    return connection


def _write_pool(engine: sa.Engine, size: int, rng: random.Random) -> list[tuple[int, int, datetime]]:
    """(session id, user id, start) for ``size`` open sessions of distinct ACTIVE users; opens more if too few are.

    ``start`` is the later of the session's and the view's last activity, so
    a write two minutes after it always moves the view.
    """
    with engine.begin() as connection:
        open_count = connection.scalar(
            select(func.count()).select_from(UserSession).join(User, User.id == UserSession.user_id).where(
                UserSession.is_active.is_(True), User.status == UserStatus.ACTIVE
            )
        ) or 0
        if open_count < size:
            # Each ACTIVE user's newest session is the one a request would use: open it (no trigger reads is_active).
            latest = (
                select(func.max(UserSession.id))
                .join(User, User.id == UserSession.user_id)
                .where(User.status == UserStatus.ACTIVE)
                .group_by(UserSession.user_id)
                .order_by(UserSession.user_id)
                .limit(size - open_count)
            )
            connection.execute(sa.update(UserSession).where(UserSession.id.in_(latest)).values(is_active=True))
        rows = connection.execute(
            select(UserSession.id, UserSession.user_id, UserSession.last_active_at, UserActivity.last_active_at)
            .join(User, User.id == UserSession.user_id)
            .join(UserActivity, UserActivity.user_id == UserSession.user_id)
            .where(UserSession.is_active.is_(True), User.status == UserStatus.ACTIVE)
            .order_by(UserSession.id)
        ).all()
    chosen: dict[int, tuple[int, int, datetime]] = {}
    for session_id, user_id, session_at, view_at in rows:
        if user_id not in chosen:
            chosen[user_id] = (session_id, user_id, max(session_at, view_at or session_at))
    pool = list(chosen.values())
    rng.shuffle(pool)
    return pool[:size]


def _view_activity(engine: sa.Engine, user_ids: list[int]) -> dict[int, datetime | None]:
    with engine.connect() as connection:
        return dict(
            connection.execute(select(UserActivity.user_id, UserActivity.last_active_at).where(UserActivity.user_id.in_(user_ids))).all()
        )


def _spread(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 4),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 4),
        "p90_ms": round(ordered[int(len(ordered) * 0.9)] * 1000, 4),
        "writes": len(ordered),
    }


def _ratio(with_project: list[float], without: list[float]) -> float:
    return round(statistics.median(with_project) / statistics.median(without), 3)


def activity_write_cost(url: str, *, writes: int, seed: int, pool_size: int = 2000, block: int = 50) -> dict[str, Any]:
    """What OPS's request costs with this project's triggers and without them (PostgreSQL), in one process.

    OPS's request: ``UPDATE user_session SET last_active_at = <now-ish> WHERE
    id = ...; COMMIT``, one session per transaction, on a connection of OPS's
    (none of this project's settings), over a pool of open sessions of
    distinct ACTIVE users. Two cases: ``moves_view`` (each write two minutes
    after the user's recorded activity, so the trigger raises the view) and
    ``within_minute`` (one second after a write that raised it: the trigger
    reads the view and writes nothing). Two ways of interleaving, ``writes``
    writes per arm and case each:

    * ``blocks``: one connection; short blocks in an order shuffled each
      round, with the triggers enabled (the project), disabled (ALTER TABLE
      ... DISABLE TRIGGER) and dropped (not yet attached; re-created after
      from pg_get_triggerdef);
    * ``per_write``: two connections writing alternately, in random order
      within each pair, on two halves of the pool; on the second, the
      triggers do not fire (``session_replication_role = replica``).

    The view is checked afterwards: raised by every write the triggers saw in
    the first case, untouched in the second and by every write they did not see.
    """
    engine = open_engine(url)
    rng = random.Random(seed)
    sessions = f'"{bench_schema()}".user_session'
    write_sql = _SESSION_WRITE.format(sessions=sessions)
    moves_step, within_step = timedelta(minutes=2), timedelta(seconds=1)
    try:
        pool = _write_pool(engine, pool_size, rng)
        if len(pool) < 2:
            raise RuntimeError("too few ACTIVE users with sessions to measure activity writes")
        user_of = {session_id: user_id for session_id, user_id, _ in pool}
        last = {session_id: start for session_id, _, start in pool}
        with engine.connect() as connection:
            definitions = connection.execute(
                sa.text("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass) AND tgname IN :names")
                .bindparams(sa.bindparam("names", expanding=True)),
                {"table": sessions, "names": list(SESSION_TRIGGERS)},
            ).all()
        if len(definitions) != len(SESSION_TRIGGERS):
            raise RuntimeError(f"this project's triggers are not all on {sessions}")

        def set_triggers(arm: str) -> None:
            with engine.begin() as connection:
                for name, definition in definitions:
                    present = connection.scalar(
                        sa.text("SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass) AND tgname = :name"),
                        {"table": sessions, "name": name},
                    )
                    if arm == "dropped":
                        if present:
                            connection.execute(sa.text(f'DROP TRIGGER "{name}" ON {sessions}'))
                        continue
                    if not present:
                        connection.execute(sa.text(definition))
                    state = "ENABLE" if arm == "with" else "DISABLE"
                    connection.execute(sa.text(f'ALTER TABLE {sessions} {state} TRIGGER "{name}"'))

        ops_connection = _raw_connection(engine)
        replica_connection = _raw_connection(engine, "SET session_replication_role = replica")

        def write(connection: Any, session_id: int, step: timedelta) -> float:
            driver = connection.driver_connection
            last[session_id] += step
            started = time.perf_counter()
            with driver.cursor() as cursor:
                cursor.execute(write_sql, (last[session_id], session_id))
            driver.commit()
            return time.perf_counter() - started

        def blocks(step: timedelta, seen: dict[int, bool]) -> dict[str, list[float]]:
            """Alternating blocks on one connection; ``seen``: for each session written, whether its last write had the triggers."""
            seconds: dict[str, list[float]] = {"with": [], "disabled": [], "dropped": []}
            position = 0
            while len(seconds["with"]) < writes:
                order = list(seconds)
                rng.shuffle(order)
                for arm in order:
                    set_triggers(arm)
                    for _ in range(block):
                        session_id = pool[position % len(pool)][0]
                        position += 1
                        seconds[arm].append(write(ops_connection, session_id, step))
                        seen[session_id] = arm == "with"
            set_triggers("with")
            return seconds

        halves = {"with": pool[0::2][: len(pool) // 2], "without": pool[1::2][: len(pool) // 2]}
        per_write_connections = {"with": ops_connection, "without": replica_connection}

        def per_write(step: timedelta, seen: dict[int, bool]) -> dict[str, list[float]]:
            """Two connections writing alternately; ``seen``: for each session written, whether it had the triggers."""
            seconds: dict[str, list[float]] = {"with": [], "without": []}
            for i in range(writes):
                order = ["with", "without"]
                rng.shuffle(order)
                for arm in order:
                    session_id = halves[arm][i % len(halves[arm])][0]
                    seconds[arm].append(write(per_write_connections[arm], session_id, step))
                    seen[session_id] = arm == "with"
            return seconds

        def summary(seconds: dict[str, list[float]]) -> dict[str, Any]:
            base = "without" if "without" in seconds else "dropped"
            figures: dict[str, Any] = {arm: _spread(values) for arm, values in seconds.items()}
            for arm in seconds:
                if arm != "with":
                    figures[f"ratio_to_{arm}"] = _ratio(seconds["with"], seconds[arm])
            figures["ratio"] = figures[f"ratio_to_{base}"]
            return figures

        def raised(seen: dict[int, bool]) -> None:
            view = _view_activity(engine, [user_of[s] for s in seen])
            assert all(view[user_of[s]] == last[s] for s, fired in seen.items() if fired), "a write the triggers saw did not move the view"
            assert all(view[user_of[s]] < last[s] for s, fired in seen.items() if not fired), "a write without the triggers moved the view"

        result: dict[str, Any] = {"pool_sessions": len(pool), "block": block}
        # Warm up: every session written once with the triggers, on each connection that writes it.
        for session_id, _, _ in pool:
            write(ops_connection, session_id, moves_step)
        for session_id, _, _ in halves["without"]:
            write(replica_connection, session_id, moves_step)

        for method, run in (("blocks", blocks), ("per_write", per_write)):
            seen: dict[int, bool] = {}
            moves = run(moves_step, seen)
            raised(seen)
            # Within the minute: every session's view raised by one write with the triggers, then one-second steps.
            for session_id, _, _ in pool:
                write(ops_connection, session_id, moves_step)
            primed = _view_activity(engine, list(user_of.values()))
            steps_per_session = (3 * writes) // len(pool) + 1
            assert steps_per_session < 60, "too many writes within the minute for the pool: raise pool_size"
            within = run(within_step, {})
            assert _view_activity(engine, list(user_of.values())) == primed, "a write within the minute wrote the view"
            result[method] = {"moves_view": summary(moves), "within_minute": summary(within)}
        ops_connection.close()
        replica_connection.invalidate()  # never back into the pool with the triggers off
    finally:
        engine.dispose()
    return result


# -- proposed changes, measured for comparison (not the service's code) --------------------


def view_first_search(service: UserDeactivationService, now: datetime) -> sa.Select[Any]:
    """The search driven from the view's index range, row by row: ops_user read per candidate by its key.

    ``LATERAL (...) OFFSET 0`` keeps PostgreSQL from turning the lookup into a
    join it plans from the view's row estimate (which counts INACTIVE users'
    old dates too); the same rule and order as ``_inactive_users_query``.
    PostgreSQL only (SQLite has no LATERAL).
    """
    cutoff = now - service.threshold
    account = (
        select(User.id, User.email, User.oidc_id)
        .where(User.id == UserActivity.user_id, User.status == UserStatus.ACTIVE)
        .offset(0)
        .lateral("account")
    )
    latest_session = (
        select(func.max(UserSession.last_active_at))
        .where(UserSession.user_id == UserActivity.user_id, UserSession.last_active_at <= now + FUTURE_ACTIVITY_ALLOWANCE)
        .scalar_subquery()
    )
    last_seen = latest_of(activity_watermark(), latest_session)
    excluded = sorted(service.excluded_oidc_ids)
    return (
        select(account.c.id, account.c.email, last_seen.label("last_seen"))
        .select_from(UserActivity)
        .join(account, true())
        .where(UserActivity.is_active == true(), activity_watermark() <= cutoff, last_seen <= cutoff)
        .where(or_(account.c.oidc_id.is_(None), account.c.oidc_id.not_in(excluded)))
        .order_by(last_seen.asc(), account.c.id.asc())
    )


def probe_first_hourly_run(service: UserDeactivationService, engine: sa.Engine, now: datetime) -> list[Any]:
    """The hourly run as it would be if one statement first asked whether the correction has anything to do.

    Lock; one probe (the last reconciled run, any view date beyond the
    allowance, any unreported moved session, any undatable ACTIVE user); the
    search; unlock. Only the path with nothing to correct is sketched: the
    benchmark asserts it is the one taken.
    """
    session = service.session
    limit = now + FUTURE_ACTIVITY_ALLOWANCE
    both = UserActivity.is_active.in_([True, False])
    probe = select(
        select(func.max(JobRun.started_at)).where(JobRun.reconciled.is_(True)).scalar_subquery(),
        exists().where(both, activity_watermark() > limit),
        exists().where(MovedSession.reported_at.is_(None)),
        exists().where(UserActivity.is_active == true(), activity_watermark().is_(None)),
    )
    session.rollback()
    with try_advisory_lock(engine, LockPurpose.RUN) as acquired:
        assert acquired
        last_reconciled, future, moved, undatable = session.execute(probe).one()
        assert last_reconciled is not None and now - last_reconciled < RECONCILE_EVERY and not (future or moved or undatable)
        found = service.find_inactive_users()
        session.rollback()
    return found


# -- the job as a real process ------------------------------------------------


def run_job_process(url: str, *args: str, extra_env: dict[str, str] | None = None, keep_log: bool = False) -> dict[str, Any]:
    """Run `flask disable-inactive-users` as the job container would; its wall time, peak RSS and run record.

    ``extra_env``: more settings for the job (OPS_SMTP_HOST, say); ``keep_log``:
    also return what it wrote on stderr (its log) as ``log``.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``): a small
    process that forks the job itself. Reading the job's rusage from here
    would not do: on Linux a child's max RSS starts from its parent's at
    fork, and this benchmark process is far larger than the job.
    """
    flask = str(Path(sys.executable).with_name("flask"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    env.update({
        "DATABASE_URL": url, "FLASK_APP": "ops_backend.cli:create_cli_app",
        "OPS_DB_SCHEMA": bench_schema(), "OPS_DEACTIVATION_SCHEMA": bench_own_schema(),
        **(extra_env or {}),
    })
    with tempfile.TemporaryDirectory() as folder:
        rss_file = Path(folder) / "rss"
        started = time.perf_counter()
        process = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), flask, "disable-inactive-users", "--format", "json", *args],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False,
        )
        seconds = time.perf_counter() - started
        peak_kb = int(rss_file.read_text().split()[-1])
    report = json.loads(process.stdout) if process.stdout.strip() else {}
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            record = connection.execute(select(JobRun.outcome, JobRun.reconciled, JobRun.duration_seconds).order_by(JobRun.id.desc()).limit(1)).one()
    finally:
        engine.dispose()
    result = {
        "exit_code": process.returncode,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "disabled": len(report.get("disabled", [])),
        "candidates": len(report.get("candidates", [])),
        "recorded_outcome": record.outcome,
        "recorded_reconciled": record.reconciled,
        "recorded_duration_s": record.duration_seconds,
    }
    if keep_log:
        result["log"] = process.stderr
    return result


# -- one data set on one database ---------------------------------------------------


def _first_plan(plans: list[dict[str, Any]]) -> str | None:
    return plans[0]["plan"] if plans else None


def run_suite(
    url: str,
    data: DataSet,
    *,
    due: int = 1000,
    seed: int = 1,
    repeat: int = 9,
    baseline_repeat: int = 1,
    disable_repeat: int = 3,
    reconcile_repeat: int = 3,
    job: bool = True,
    baseline: bool = True,
    activity_writes: int = 0,
    proposals: bool = True,
) -> dict[str, Any]:
    """Load ``data``, then measure everything the module docstring lists, on a migrated database at ``url``."""
    engine = app_engine(url)
    kind = engine.dialect.name
    on_postgresql = kind == "postgresql"
    now = utcnow().replace(microsecond=0)
    result: dict[str, Any] = {"database": kind, "data": data.name, "users": data.users, "load_average_at_start": os.getloadavg()}
    try:
        if on_postgresql:
            autovacuum(engine, enabled=False)
        summary = load_data.load(
            engine, users=data.users, sessions_per_user=data.sessions_per_user, seed=seed, now=now, due=due, replace=True,
            vacuum=not on_postgresql, **data.load_options(),
        )
        result["sessions"] = summary.sessions
        result["load"] = summary.to_dict()
        with Session(engine) as session:
            service = UserDeactivationService(
                session, inactive_days=INACTIVE_DAYS, excluded_oidc_ids=DEFAULT_EXCLUDED_OIDC_IDS, max_disable=0, clock=lambda: now
            )

            def find() -> list[Any]:
                found = service.find_inactive_users()
                session.rollback()
                return found

            def hourly() -> Any:
                report = rule_run(service, now)
                assert not report.reconciled, "the hourly run reconciled: it found no reconciled run record"
                assert report.candidates == [] and report.disabled == [] and not report.failed, "the hourly run found someone due"
                return report

            # 1. The day's first real run: reconciles the view, disables the due users, leaves its record.
            first_timing, first = measure(engine, lambda: rule_run(service, now), repeat=1)
            assert first.reconciled, "the first run of the day did not reconcile"
            assert len(first.disabled) == summary.due and not first.failed, f"the first run disabled {len(first.disabled)} of {summary.due}: {first.failed[:3]}"
            disabled = list(first.disabled)
            record_run(engine, first, now)
            result["first_run_of_day_disabling"] = {**first_timing.to_dict(), "disabled": len(disabled)}

            # 2. The hourly run with nobody due: on PostgreSQL analyzed only, then vacuumed.
            phases = [("analyze_only", False), ("vacuumed", True)] if on_postgresql else [("analyzed", True)]
            for phase, vacuumed in phases:
                if vacuumed:
                    vacuum_analyze(engine)
                else:
                    load_data.analyze(engine, vacuum=False)
                measured: dict[str, Any] = {}
                search_timing, found = measure(engine, find, repeat=repeat)
                assert found == [], "the search found someone due"
                measured["search"] = search_timing.to_dict()
                hourly_timing, _ = measure(engine, hourly, repeat=repeat)
                measured["hourly_run"] = hourly_timing.to_dict()
                measured["search_plan"] = _first_plan(explain_sent(engine, find))
                if on_postgresql:
                    plans = explain_sent(engine, hourly)
                    measured["hourly_run_statements"] = [
                        {"statement": p["statement"][:160], "execution_ms": p["execution_ms"], "planning_ms": p["planning_ms"]} for p in plans
                    ]
                    measured["hourly_run_server_ms"] = round(sum((p["execution_ms"] or 0) + (p["planning_ms"] or 0) for p in plans), 3)
                    measured["hourly_run_plans"] = [p["plan"] for p in plans]
                result[phase] = measured
            if on_postgresql:
                autovacuum(engine, enabled=True)
            if on_postgresql and proposals:
                probe_timing, probed = measure(engine, lambda: probe_first_hourly_run(service, engine, now), repeat=repeat)
                assert probed == []
                result["proposal_probe_first_hourly_run"] = probe_timing.to_dict()

            # 3. The daily reconciliation alone, and a first run of a day with nobody due.
            reconcile_timing, counts = measure(engine, lambda: service.reconcile_view(now), repeat=reconcile_repeat)
            assert not any(counts.values()), f"the view differed from OPS's rows: {counts}"
            result["reconcile_view"] = reconcile_timing.to_dict()

            def first_of_day() -> Any:
                report = rule_run(service, now)
                assert report.reconciled and report.candidates == []
                return report

            first_nobody_timing, first_nobody = measure(engine, first_of_day, repeat=reconcile_repeat, between=lambda: forget_runs(engine))
            record_run(engine, first_nobody, now)
            result["first_run_of_day_nobody_due"] = first_nobody_timing.to_dict()
            if on_postgresql:
                result["jit_reconcile_view"] = jit_comparison(engine, lambda: service.reconcile_view(now))
                result["jit_search_nobody_due"] = jit_comparison(engine, find)

            # 4. One user due (an ordinary hour), then every due user again.
            undo_deactivations(engine, disabled[:1])
            one_timing, one = measure(engine, find, repeat=repeat)
            assert [u.user_id for u in one] == disabled[:1]
            result["search_one_due"] = {**one_timing.to_dict(), "plan": _first_plan(explain_sent(engine, find))}
            if on_postgresql and proposals:
                result["proposal_view_first_search_one_due"] = _view_first(engine, service, now, one, repeat)
            undo_deactivations(engine, disabled)
            # The rows just changed are few: vacuum the two small tables again, not the sessions.
            ops_user, _, view = _measured_tables()
            vacuum_analyze(engine, [ops_user, view] if on_postgresql else None)
            find_timing, found = measure(engine, find, repeat=repeat)
            assert len(found) == summary.due, f"the search found {len(found)} users, the loader made {summary.due} due"
            result["search_due"] = {**find_timing.to_dict(), "rows": len(found), "plan": _first_plan(explain_sent(engine, find))}
            if on_postgresql:
                query = service._inactive_users_query(as_of=now, now=now)
                result["generic_vs_custom"] = generic_vs_custom(engine, query, repeat=repeat)
                result["jit_search_due"] = {k: v for k, v in jit_comparison(engine, find).items() if not k.endswith("_plans")}
                if proposals:
                    result["proposal_view_first_search_due"] = _view_first(engine, service, now, found, repeat)
            if baseline:
                baseline_timing, naive = measure(engine, lambda: naive_inactive_users(session, now=now), repeat=baseline_repeat)
                equal = naive == [(u.user_id, u.email, u.last_seen) for u in found]
                assert equal, "the naive loop and find_inactive_users disagree"
                result["baseline_naive_loop"] = {**baseline_timing.to_dict(), "rows": len(naive), "equal_to_search": equal}
                result["search_speedup_over_baseline"] = round(baseline_timing.median / find_timing.median, 1)

            # 5. A run that disables the due users; undone before each repetition.
            def reset() -> None:
                undo_deactivations(engine, disabled)

            def disable_run() -> Any:
                report = rule_run(service, now)
                disabled[:] = report.disabled
                return report

            disabled_before = list(disabled)
            disabled.clear()
            c_timing, report = measure(engine, disable_run, repeat=disable_repeat, between=reset)
            assert sorted(report.disabled) == sorted(disabled_before) and not report.failed and not report.reconciled, (
                f"the run did not disable exactly the due users: {len(report.disabled)} of {summary.due}, {report.failed[:3]}, {report.skipped_reason}"
            )
            per_user = round(c_timing.statements / len(report.disabled), 2) if report.disabled else None
            result["disable_run"] = {**c_timing.to_dict(), "disabled": len(report.disabled), "statements_per_user": per_user}

            # 6. The real job process: disabling the due users, then an hour with nobody due.
            if job:
                undo_deactivations(engine, disabled)
                result["job_process_disable"] = run_job_process(url, "--max-disable", "0")
                result["job_process_nobody_due"] = run_job_process(url)

        # 7. Last, as it writes new activity: OPS's request with and without this project's triggers.
        if activity_writes and on_postgresql:
            result["activity_write_cost"] = activity_write_cost(url, writes=activity_writes, seed=seed)
    finally:
        engine.dispose()
    result["load_average_at_end"] = os.getloadavg()
    return result


def _view_first(engine: sa.Engine, service: UserDeactivationService, now: datetime, expected: list[Any], repeat: int) -> dict[str, Any]:
    """Time the view-first search sketch and check it answers exactly as the service did."""
    session = service.session
    query = view_first_search(service, now)

    def run() -> list[Any]:
        rows = session.execute(query).all()
        session.rollback()
        return rows

    timing, rows = measure(engine, run, repeat=repeat)
    assert [(r.id, r.email, r.last_seen) for r in rows] == [(u.user_id, u.email, u.last_seen) for u in expected], "the sketch disagrees"
    return {**timing.to_dict(), "rows": len(rows), "plan": _first_plan(explain_sent(engine, run))}


# -- the whole benchmark ----------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    with open("/proc/cpuinfo") as cpuinfo:
        models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    info["cpu"] = models[0] if models else platform.processor()
    with open("/proc/meminfo") as meminfo:
        total = next(line for line in meminfo if line.startswith("MemTotal"))
    info["memory_gb"] = round(int(total.split()[1]) / 1024 / 1024, 1)
    info["load_average_at_start"] = os.getloadavg()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", default="100000,1000000,1000000:10:0.5,100000:100",
        help="comma-separated data sets, each users[:sessions_per_user[:inactive_share]] [%(default)s]",
    )
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--sqlite-max", type=int, default=100_000, help="SQLite only for data sets up to this many users, 10 sessions each [%(default)s]")
    parser.add_argument("--due", type=int, default=1000, help="users due in each data set [%(default)s]")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--pg-database", default="ops_bench", help="created for the run and dropped after [%(default)s]")
    parser.add_argument("--sqlite-dir", default=None, help="where the temporary SQLite file goes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=15, help="runs of each search and hourly run [%(default)s]")
    parser.add_argument("--baseline-repeat", type=int, default=1, help="runs of the naive loop [%(default)s]")
    parser.add_argument("--baseline-max", type=int, default=1_000_000, help="the naive loop only up to this many sessions [%(default)s]")
    parser.add_argument("--disable-repeat", type=int, default=3, help="runs that disable the due users [%(default)s]")
    parser.add_argument("--reconcile-repeat", type=int, default=3, help="runs of the reconciliation and of a day's first run [%(default)s]")
    parser.add_argument("--no-job", action="store_true", help="skip the `flask disable-inactive-users` processes")
    parser.add_argument("--no-proposals", action="store_true", help="skip the sketches of proposed changes")
    parser.add_argument("--activity-writes", type=int, default=3000, help="writes per arm and case for the activity cost (PostgreSQL) [%(default)s]")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the full report here")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"started": utcnow().isoformat(), "machine": machine(), "results": []}
    with postgresql_connection_info(args.pg_url) as server:
        report["machine"]["postgresql"] = server
    for kind in args.databases.split(","):
        for data in (DataSet.parse(text) for text in args.data.split(",")):
            if kind == "sqlite" and (data.users > args.sqlite_max or data.users * data.sessions_per_user > 10 * args.sqlite_max):
                continue
            context = postgresql_database(args.pg_url, args.pg_database) if kind == "postgresql" else sqlite_file(args.sqlite_dir)
            with context as url:
                print(f"{kind} {data.name} ...", file=sys.stderr, flush=True)
                result = run_suite(
                    url, data, due=min(args.due, data.users // 10), seed=args.seed, repeat=args.repeat,
                    baseline_repeat=args.baseline_repeat, disable_repeat=args.disable_repeat, reconcile_repeat=args.reconcile_repeat,
                    job=not args.no_job, baseline=data.users * data.sessions_per_user <= args.baseline_max,
                    activity_writes=args.activity_writes, proposals=not args.no_proposals,
                )
                report["results"].append(result)
                print(summary_line(result), file=sys.stderr, flush=True)
                if args.json_path:  # written as it goes: a long run keeps what it measured
                    Path(args.json_path).write_text(json.dumps(report, indent=2, default=str) + "\n")
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["finished"] = utcnow().isoformat()
    print(render_table(report))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


@contextmanager
def postgresql_connection_info(url: str) -> Iterator[dict[str, Any] | None]:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            settings = ("server_version", "shared_buffers", "work_mem", "jit", "jit_above_cost", "autovacuum", "synchronous_commit", "fsync")
            yield {name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in settings}
    except sa.exc.OperationalError:
        yield None
    finally:
        engine.dispose()


def _ms(result: dict[str, Any], *keys: str) -> str:
    value: Any = result
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return "-" if value is None else f"{value:,.1f}" if value >= 100 else f"{value:.2f}"


def summary_line(r: dict[str, Any]) -> str:
    steady = r.get("vacuumed") or r.get("analyzed") or {}
    writes = r.get("activity_write_cost", {})
    return (
        f"  search {steady['search']['median_ms']:.2f} ms, hourly run {steady['hourly_run']['median_ms']:.2f} ms"
        f" ({steady['hourly_run']['statements']} statements), reconcile {r['reconcile_view']['median_ms']:,.0f} ms,"
        f" disable {r['disable_run']['disabled']} in {r['disable_run']['median_ms'] / 1000:.2f} s"
        f" ({r['disable_run']['statements_per_user']}/user), activity (moves / within) blocks"
        f" x{writes.get('blocks', {}).get('moves_view', {}).get('ratio')} / x{writes.get('blocks', {}).get('within_minute', {}).get('ratio')},"
        f" per write x{writes.get('per_write', {}).get('moves_view', {}).get('ratio')} / x{writes.get('per_write', {}).get('within_minute', {}).get('ratio')}"
    )


def render_table(report: dict[str, Any]) -> str:
    header = (
        "| database | data | search ms (ANALYZE only / vacuumed) | hourly run ms (stmts) | reconcile ms | first run of day ms "
        "| search, 1 due ms | search, 1,000 due ms | naive loop s | disable 1,000 s (stmts/user) | activity x, moves / within (blocks ; per write) "
        "| job RSS MB (disable / nobody due) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in report["results"]:
        steady = r.get("vacuumed") or r.get("analyzed")
        fresh = r.get("analyze_only")
        search = f"{_ms(fresh, 'search', 'median_ms')} / {_ms(steady, 'search', 'median_ms')}" if fresh else _ms(steady, "search", "median_ms")
        writes = r.get("activity_write_cost")
        activity = (
            " ; ".join(f"{writes[m]['moves_view']['ratio']} / {writes[m]['within_minute']['ratio']}" for m in ("blocks", "per_write"))
            if writes else "-"
        )
        base = r.get("baseline_naive_loop")
        naive = f"{base['median_ms'] / 1000:.1f}" if base else "-"
        rss = " / ".join(str(r.get(k, {}).get("peak_rss_mb", "-")) for k in ("job_process_disable", "job_process_nobody_due"))
        lines.append(
            f"| {r['database']} | {r['data']} | {search} | {_ms(steady, 'hourly_run', 'median_ms')} ({steady['hourly_run']['statements']}) "
            f"| {_ms(r, 'reconcile_view', 'median_ms')} | {_ms(r, 'first_run_of_day_nobody_due', 'median_ms')} "
            f"| {_ms(r, 'search_one_due', 'median_ms')} | {_ms(r, 'search_due', 'median_ms')} | {naive} "
            f"| {r['disable_run']['median_ms'] / 1000:.2f} ({r['disable_run']['statements_per_user']}) | {activity} | {rss} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
