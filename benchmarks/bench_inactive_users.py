"""Benchmark the inactive-account job at agency scale (issue 6).

For each database (SQLite, PostgreSQL) and size (users, with N sessions each),
on one deterministic data set where exactly ``due`` ACTIVE users are due:

(a) ``find_inactive_users``;
    and, in the same process on the same data, a naive per-user loop (load
    every user, one query per user for their latest session, the same rule in
    Python) whose result must equal (a);
(c) a real run that disables the ``due`` users (then undone, and repeated);
(b) the hourly run with nobody due (the full ``disable_inactive_users`` path);
    and the real ``flask disable-inactive-users`` process for (c) and (b), with
    its peak memory (max RSS);
plus, on PostgreSQL, the candidate query's EXPLAIN (ANALYZE, BUFFERS) and a
comparison of its generic and custom prepared plans.

Run with the project's virtualenv, from the repository root:

    python benchmarks/bench_inactive_users.py --json benchmarks/results.json

PostgreSQL work happens in a database of its own (``--pg-database``, dropped
afterwards), SQLite in a temporary file. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import platform
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ops_api.clock import utcnow
from ops_api.config import DEFAULT_EXCLUDED_OIDC_IDS
from ops_api.devtools import load_data
from ops_api.domain import inactivity
from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS, SYSTEM_ADMIN_OIDC_ID
from ops_api.models import OpsDBHistory, OpsEvent, User, UserSession, UserStatus
from ops_api.services.user_deactivation import UserDeactivationService

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INACTIVE_DAYS = DEFAULT_INACTIVE_DAYS


# -- measuring ----------------------------------------------------------------


@contextmanager
def counting_statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Collect every SQL statement the engine sends while the block runs."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@dataclass
class Timing:
    seconds: list[float]
    statements: int

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_s": round(self.median, 4),
            "min_s": round(min(self.seconds), 4),
            "max_s": round(max(self.seconds), 4),
            "runs": len(self.seconds),
            "statements": self.statements,
        }


def measure(engine: sa.Engine, action: Callable[[], Any], *, repeat: int, between: Callable[[], Any] | None = None) -> tuple[Timing, Any]:
    """Run ``action`` ``repeat`` times; statements counted on the last run; returns the last result."""
    seconds, result, statements = [], None, 0
    for _ in range(repeat):
        if between is not None:
            between()
        with counting_statements(engine) as sent:
            started = time.perf_counter()
            result = action()
            seconds.append(time.perf_counter() - started)
        statements = len(sent)
    return Timing(seconds, statements), result


# -- the naive baseline -------------------------------------------------------


def naive_inactive_users(session: Session, *, now: datetime, inactive_days: int = INACTIVE_DAYS) -> list[tuple[int, str | None, datetime]]:
    """The obvious script: load every user, then one query per user for the latest session.

    Applies the rule through its Python reference (ops_api.domain.inactivity:
    the activity column, the latest session, the reactivation moment and
    created_on; activity later than now counts as now) so its answer can be
    checked equal to ``find_inactive_users``.
    """
    excluded = {*DEFAULT_EXCLUDED_OIDC_IDS, SYSTEM_ADMIN_OIDC_ID}
    due = []
    for user in session.scalars(select(User)).all():
        if user.status is not UserStatus.ACTIVE or user.oidc_id in excluded:
            continue
        latest = session.scalar(select(func.max(UserSession.last_active_at)).where(UserSession.user_id == user.id))
        seen = inactivity.last_seen(
            now=now,
            activity=user.last_active_at,
            latest_session=latest,
            reactivated_on=user.reactivated_on,
            created_on=user.created_on,
        )
        if seen is not None and inactivity.is_due(seen, now, timedelta(days=inactive_days)):
            due.append((user.id, user.email, seen))
    session.rollback()
    return sorted(due, key=lambda row: (row[2], row[0]))


# -- the design this project replaced: the rule read from the sessions ----------

LEGACY_INDEX = "bench_legacy_last_active_at_user_id"


def legacy_session_scan_query(now: datetime, *, inactive_days: int = INACTIVE_DAYS) -> sa.Select[Any]:
    """The hourly search as it was before ops_user carried the last activity: an anti-join on user_session.

    Needs the (last_active_at, user_id) index the old schema had (see
    ``legacy_index``); ops_user's activity column is not read.
    """
    cutoff = now - timedelta(days=inactive_days)
    excluded = sorted({*DEFAULT_EXCLUDED_OIDC_IDS, SYSTEM_ADMIN_OIDC_ID})
    recent = select(UserSession.user_id).where(UserSession.user_id == User.id, UserSession.last_active_at > cutoff).exists()
    return select(User.id).where(
        User.status == UserStatus.ACTIVE,
        User.created_on <= cutoff,
        sa.or_(User.reactivated_on.is_(None), User.reactivated_on <= cutoff),
        ~recent,
        sa.or_(User.oidc_id.is_(None), User.oidc_id.not_in(excluded)),
    )


@contextmanager
def legacy_index(engine: sa.Engine) -> Iterator[None]:
    """The old schema's user_session (last_active_at, user_id) index, for as long as the block runs."""
    table = "user_session" if engine.dialect.name == "sqlite" else f'"{bench_schema()}".user_session'
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE INDEX {LEGACY_INDEX} ON {table} (last_active_at, user_id)"))
    load_data.analyze(engine)
    try:
        yield
    finally:
        name = LEGACY_INDEX if engine.dialect.name == "sqlite" else f'"{bench_schema()}".{LEGACY_INDEX}'
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP INDEX {name}"))


def activity_write_cost(engine: sa.Engine, *, writes: int, seed: int) -> dict[str, Any]:
    """Median cost of recording one request's activity (UPDATE of a session, commit), now and as it was.

    Now: the trigger raises ops_user.last_active_at. Before: no trigger, and
    the old (last_active_at, user_id) index to maintain instead. PostgreSQL only.
    """
    schema = bench_schema()
    with engine.connect() as connection:
        ids = connection.execute(
            select(UserSession.id).where(UserSession.is_active.is_(True)).order_by(UserSession.id).limit(5000)
        ).scalars().all() or connection.execute(select(UserSession.id).order_by(UserSession.id).limit(5000)).scalars().all()
    rng = __import__("random").Random(seed)
    chosen = [rng.choice(ids) for _ in range(writes)]

    def timed(at: datetime) -> list[float]:
        seconds = []
        with engine.connect() as connection:
            for offset, session_id in enumerate(chosen):
                started = time.perf_counter()
                connection.execute(
                    sa.update(UserSession).where(UserSession.id == session_id).values(last_active_at=at + timedelta(seconds=offset))
                )
                connection.commit()
                seconds.append(time.perf_counter() - started)
        return seconds

    now = utcnow().replace(microsecond=0)
    timed(now - timedelta(hours=2))  # warm the cache for both
    with_trigger = timed(now - timedelta(hours=1))
    with legacy_index(engine):
        with engine.begin() as connection:
            connection.execute(sa.text(f'ALTER TABLE "{schema}".user_session DISABLE TRIGGER {load_data.ACTIVITY_TRIGGER}'))
        try:
            before = timed(now)
        finally:
            with engine.begin() as connection:
                connection.execute(sa.text(f'ALTER TABLE "{schema}".user_session ENABLE TRIGGER {load_data.ACTIVITY_TRIGGER}'))
    now_ms, before_ms = statistics.median(with_trigger) * 1000, statistics.median(before) * 1000
    return {
        "writes": writes,
        "now_median_ms": round(now_ms, 3),
        "before_median_ms": round(before_ms, 3),
        "ratio": round(now_ms / before_ms, 2) if before_ms else None,
    }


# -- databases ----------------------------------------------------------------


def bench_schema() -> str:
    """The schema of OPS's tables on PostgreSQL: OPS_DB_SCHEMA, as for the application."""
    return os.environ.get("OPS_DB_SCHEMA", "ops")


def open_engine(url: str, **options: Any) -> sa.Engine:
    """An engine aimed, like the application's, at OPS's schema on PostgreSQL."""
    if url.startswith("postgresql"):
        options.setdefault("execution_options", {})["schema_translate_map"] = {None: bench_schema()}
    return sa.create_engine(url, **options)


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


def undo_deactivations(engine: sa.Engine, user_ids: list[int]) -> None:
    """Make the given users ACTIVE again and forget the run's events, as if it never happened."""
    with engine.begin() as connection:
        if user_ids:
            # Making them ACTIVE by hand counts as a reactivation (a trigger stamps it): put the
            # loaded reactivation moments back, so the next repetition finds them due again.
            before = connection.execute(select(User.id, User.reactivated_on).where(User.id.in_(user_ids))).all()
            connection.execute(sa.update(User).where(User.id.in_(user_ids)).values(status=UserStatus.ACTIVE))
            connection.execute(
                sa.update(User.__table__).where(User.__table__.c.id == sa.bindparam("uid")).values(reactivated_on=sa.bindparam("was")),
                [{"uid": user_id, "was": was} for user_id, was in before],
            )
        connection.execute(sa.delete(OpsEvent))
        connection.execute(sa.delete(OpsDBHistory))


# -- the job as a real process ------------------------------------------------


def run_job_process(url: str, *args: str) -> dict[str, Any]:
    """Run `flask disable-inactive-users` as the job container would; its wall time and peak RSS.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``): a small
    process that forks the job itself. Reading the job's rusage from here
    would not do: on Linux a child's max RSS starts from its parent's at
    fork, and this benchmark process is far larger than the job.
    """
    flask = str(Path(sys.executable).with_name("flask"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    env.update({"DATABASE_URL": url, "FLASK_APP": "ops_api:create_app", "OPS_DB_SCHEMA": bench_schema()})
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
    return {
        "exit_code": process.returncode,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "disabled": len(report.get("disabled", [])),
        "candidates": len(report.get("candidates", [])),
    }


# -- PostgreSQL plans -----------------------------------------------------------


def _postgresql_sql(statement: sa.Select[Any]) -> tuple[str, list[Any]]:
    """The statement as PostgreSQL text with $1, $2... and its parameter values."""
    compiled = statement.compile(
        dialect=postgresql.dialect(paramstyle="pyformat"),
        compile_kwargs={"render_postcompile": True},
        schema_translate_map={None: bench_schema()},
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


def explain(session: Session, statement: sa.Select[Any]) -> str:
    if session.get_bind().dialect.name == "postgresql":
        compiled = statement.compile(
            session.get_bind(),
            compile_kwargs={"literal_binds": True},
            schema_translate_map={None: bench_schema()},
            render_schema_translate=True,
        )
        rows = session.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled)))
        text = "\n".join(row[0] for row in rows)
    else:
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        rows = session.execute(sa.text("EXPLAIN QUERY PLAN " + str(compiled)))
        text = "\n".join(str(tuple(row)) for row in rows)
    session.rollback()
    return text


def _client_side_cursor(raw: Any) -> Any:
    if type(raw).__module__.startswith("psycopg2"):
        return raw.cursor()
    import psycopg

    return psycopg.ClientCursor(raw)


def generic_vs_custom(engine: sa.Engine, statement: sa.Select[Any], *, repeat: int) -> dict[str, Any]:
    """Time EXECUTE of the prepared candidate query under a forced custom and a forced generic plan."""
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
                result[mode] = {"median_s": round(statistics.median(seconds), 4), "runs": repeat, "plan": plan}
            cursor.execute("DEALLOCATE ops_bench_candidates")
            cursor.execute("RESET plan_cache_mode")
        raw.rollback()
    custom, generic = result["force_custom_plan"]["median_s"], result["force_generic_plan"]["median_s"]
    result["generic_over_custom"] = round(generic / custom, 2) if custom else None
    return result


# -- one size on one database ---------------------------------------------------


def run_suite(
    url: str,
    *,
    users: int,
    sessions_per_user: int = 10,
    due: int = 1000,
    seed: int = 1,
    repeat: int = 7,
    baseline_repeat: int = 1,
    disable_repeat: int = 3,
    job: bool = True,
    plans: bool = True,
    baseline: bool = True,
    activity_writes: int = 0,
) -> dict[str, Any]:
    """Load, then measure (a), the baseline, (c), (b) and the job process on a migrated database at ``url``."""
    engine = open_engine(url)
    kind = engine.dialect.name
    now = utcnow().replace(microsecond=0)
    summary = load_data.load(engine, users=users, sessions_per_user=sessions_per_user, seed=seed, now=now, due=due, replace=True)
    result: dict[str, Any] = {"database": kind, "users": users, "sessions": summary.sessions, "load": summary.to_dict()}
    try:
        with Session(engine) as session:
            service = UserDeactivationService(session, clock=lambda: now, max_disable=0)

            def find() -> list[Any]:
                found = service.find_inactive_users()
                session.rollback()
                return found

            find_timing, found = measure(engine, find, repeat=repeat)
            assert len(found) == summary.due, f"(a) found {len(found)} users, the loader made {summary.due} due"
            result["a_find_inactive_users"] = {**find_timing.to_dict(), "rows": len(found)}

            baseline_timing = None
            if baseline:
                baseline_timing, naive = measure(engine, lambda: naive_inactive_users(session, now=now), repeat=baseline_repeat)
                equal = naive == [(u.user_id, u.email, u.last_seen) for u in found]
                assert equal, "the naive loop and find_inactive_users disagree"
                result["baseline_naive_loop"] = {**baseline_timing.to_dict(), "rows": len(naive), "equal_to_a": equal}
                result["a_speedup_over_baseline"] = round(baseline_timing.median / find_timing.median, 1)

            if plans:
                query = service._inactive_users_query(as_of=now, now=now)
                result["candidate_query_plan"] = explain(session, query)
                if kind == "postgresql":
                    result["generic_vs_custom"] = generic_vs_custom(engine, query, repeat=repeat)

            # (c) disable `due` users; undone before each repetition.
            disabled: list[int] = []

            def reset() -> None:
                undo_deactivations(engine, disabled)

            def disable_run() -> Any:
                report = service.disable_inactive_users()
                disabled[:] = report.disabled
                return report

            c_timing, report = measure(engine, disable_run, repeat=disable_repeat, between=reset)
            assert len(report.disabled) == summary.due and not report.failed, f"(c) did not disable every due user: {len(report.disabled)} of {summary.due}, {report.failed[:3]}, {report.skipped_reason}"
            per_user = round(c_timing.statements / len(report.disabled), 2) if report.disabled else None
            result["c_disable_run"] = {**c_timing.to_dict(), "disabled": len(report.disabled), "statements_per_user": per_user}

            if job:
                undo_deactivations(engine, disabled)
                result["job_process_disable"] = run_job_process(url, "--max-disable", "0")

            # (b) the same data once everyone due is disabled: the hourly no-op.
            def noop_run() -> Any:
                return service.disable_inactive_users()

            b_timing, report = measure(engine, noop_run, repeat=repeat)
            assert report.candidates == [] and report.disabled == [], "(b) found someone due"
            result["b_noop_run"] = b_timing.to_dict()
            if baseline_timing is not None:
                result["b_speedup_over_baseline"] = round(baseline_timing.median / b_timing.median, 1)
            nobody_timing, nobody = measure(engine, find, repeat=repeat)
            assert nobody == []
            result["a_find_when_nobody_due"] = nobody_timing.to_dict()

            # The same hourly search, nobody due, as the session-scanning design answered it.
            with legacy_index(engine):
                def legacy() -> list[Any]:
                    rows = session.execute(legacy_session_scan_query(now)).all()
                    session.rollback()
                    return rows

                legacy_timing, legacy_rows = measure(engine, legacy, repeat=repeat)
                nobody_again, _ = measure(engine, find, repeat=repeat)
            assert legacy_rows == []
            result["legacy_session_scan_when_nobody_due"] = legacy_timing.to_dict()
            result["a_find_when_nobody_due_beside_legacy"] = nobody_again.to_dict()
            result["nobody_due_speedup_over_legacy"] = round(legacy_timing.median / nobody_again.median, 1)
            if activity_writes and kind == "postgresql":
                result["activity_write_cost"] = activity_write_cost(engine, writes=activity_writes, seed=seed)

            future_timing, _rows = measure(engine, lambda: (service.users_with_future_activity(), session.rollback())[0], repeat=repeat)
            result["users_with_future_activity"] = future_timing.to_dict()

            if job:
                result["job_process_noop"] = run_job_process(url)
    finally:
        engine.dispose()
    return result


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
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated user counts [%(default)s]")
    parser.add_argument("--sessions-per-user", type=int, default=10)
    parser.add_argument("--due", type=int, default=1000, help="users due in the data set, disabled by (c) [%(default)s]")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--pg-database", default="ops_bench", help="created for the run and dropped after [%(default)s]")
    parser.add_argument("--sqlite-dir", default=None, help="where the temporary SQLite file goes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=9, help="runs of (a) and (b) [%(default)s]")
    parser.add_argument("--baseline-repeat", type=int, default=3, help="runs of the naive loop [%(default)s]")
    parser.add_argument("--disable-repeat", type=int, default=3, help="runs of (c) [%(default)s]")
    parser.add_argument("--no-job", action="store_true", help="skip the `flask disable-inactive-users` processes")
    parser.add_argument("--baseline-max", type=int, default=100_000, help="skip the naive loop above this many users [%(default)s]")
    parser.add_argument("--activity-writes", type=int, default=2000, help="session updates timed for the activity cost (PostgreSQL) [%(default)s]")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the full report here")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"started": utcnow().isoformat(), "machine": machine(), "results": []}
    with postgresql_connection_info(args.pg_url) as pg_version:
        report["machine"]["postgresql"] = pg_version
    for kind in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            context = postgresql_database(args.pg_url, args.pg_database) if kind == "postgresql" else sqlite_file(args.sqlite_dir)
            with context as url:
                print(f"{kind} {size} users ...", file=sys.stderr, flush=True)
                result = run_suite(
                    url, users=size, sessions_per_user=args.sessions_per_user, due=min(args.due, size // 10), seed=args.seed,
                    repeat=args.repeat, baseline_repeat=args.baseline_repeat, disable_repeat=args.disable_repeat,
                    job=not args.no_job, baseline=size <= args.baseline_max, activity_writes=args.activity_writes,
                )
                report["results"].append(result)
                print(summary_line(result), file=sys.stderr, flush=True)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["finished"] = utcnow().isoformat()
    print(render_table(report))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


@contextmanager
def postgresql_connection_info(url: str) -> Iterator[str | None]:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            yield connection.execute(sa.text("SHOW server_version")).scalar()
    except sa.exc.OperationalError:
        yield None
    finally:
        engine.dispose()


def summary_line(r: dict[str, Any]) -> str:
    base = r.get("baseline_naive_loop", {}).get("median_s")
    legacy = r["legacy_session_scan_when_nobody_due"]["median_s"]
    return (
        f"  (a) {r['a_find_inactive_users']['median_s']:.4f}s  baseline {base}s  (b) {r['b_noop_run']['median_s']:.4f}s"
        f"  nobody due {r['a_find_when_nobody_due_beside_legacy']['median_s']:.4f}s vs legacy {legacy:.4f}s"
        f" (x{r['nobody_due_speedup_over_legacy']})  (c) {r['c_disable_run']['median_s']:.2f}s"
        f" ({r['c_disable_run']['statements_per_user']} stmts/user)  activity {r.get('activity_write_cost', {})}"
    )


def render_table(report: dict[str, Any]) -> str:
    header = (
        "| database | users | sessions | (a) find s | (a) stmts | baseline s | (a) x | (b) no-op s | (b) stmts | (b) x "
        "| nobody due: search s | legacy scan s | x | (c) disable s | (c) rows | stmts/user | activity write ms now / before "
        "| job RSS MB (c / b) | generic/custom |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in report["results"]:
        a, b, c = r["a_find_inactive_users"], r["b_noop_run"], r["c_disable_run"]
        base = r.get("baseline_naive_loop", {"median_s": float("nan")})
        nobody, legacy = r["a_find_when_nobody_due_beside_legacy"], r["legacy_session_scan_when_nobody_due"]
        cost = r.get("activity_write_cost")
        activity = f"{cost['now_median_ms']} / {cost['before_median_ms']}" if cost else "-"
        rss = "/".join(
            str(r.get(k, {}).get("peak_rss_mb", "-")) for k in ("job_process_disable", "job_process_noop")
        )
        gvc = r.get("generic_vs_custom", {}).get("generic_over_custom", "-")
        lines.append(
            f"| {r['database']} | {r['users']:,} | {r['sessions']:,} | {a['median_s']:.4f} | {a['statements']} | {base['median_s']:.2f} "
            f"| {r.get('a_speedup_over_baseline', '-')} | {b['median_s']:.4f} | {b['statements']} | {r.get('b_speedup_over_baseline', '-')} "
            f"| {nobody['median_s']:.4f} | {legacy['median_s']:.4f} | {r['nobody_due_speedup_over_legacy']} "
            f"| {c['median_s']:.2f} | {c['disabled']} | {c['statements_per_user']} | {activity} | {rss} | {gvc} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
