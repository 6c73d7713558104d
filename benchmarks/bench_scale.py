"""The real hourly job at scale on PostgreSQL, one case per run (issue 19, item 3: every statement bounded).

Three cases, each loaded fast with the bulk loader (ops_api.devtools.load_data,
COPY) and then shaped by a few set-based statements, then run as the job runs:
the process ``flask disable-inactive-users`` with DATABASE_URL (through
``bench_inactive_users.run_job_process``), e-mail on, to a real SMTP server on
127.0.0.1 (aiosmtpd, which counts what it receives):

* ``future``: ``--users`` ACTIVE users whose dates lie in the year 2200 and
  later (the latest session of each who ever logged in, the creation date of
  every other one, the reactivation date of every third). The run must record
  each date in ``future_stamp``, rewrite no row of OPS's ``ops_user`` or
  ``user_session``, disable nobody and log a bounded sample;
* ``warn``: ``--users`` ACTIVE users last seen 53 to 60 days ago, each due the
  7-day warning: the run must send and record exactly that many warnings;
* ``disable``: ``--users`` users due, run with ``--max-disable 0``: the run
  must disable exactly them (and send each their notice).

Afterwards the database is checked: the run record's outcome, the disabled
count, OPS's rows, the e-mail records. The figures (wall time, peak RSS,
transactions, load average) are printed as JSON, and written to ``--json``.

    python benchmarks/bench_scale.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test --case future --users 100000

Each run works in a database of its own (``--database``, created and dropped).
PostgreSQL only: the cases shape the data with PostgreSQL's SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_inactive_users as bench  # noqa: E402 (the benchmark beside this script)

from ops_api.devtools import load_data  # noqa: E402
from ops_api.domain.notification_policy import KIND_NOTICE, KIND_WARNING  # noqa: E402
from ops_api.job_logging import LOG_SAMPLE  # noqa: E402

CASES = ("future", "warn", "disable")
TARGET_SECONDS = 60.0
FUTURE = datetime(2200, 1, 1)


# -- a real SMTP server that counts --------------------------------------------------


@dataclass
class Counter:
    """aiosmtpd's handler: counts each message and recipient; keeps nothing else (100,000 messages would fill memory)."""

    messages: int = 0
    recipients: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's naming)
        with self._lock:
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[Counter, dict[str, str]]]:
    """A plain SMTP server on a free port of 127.0.0.1; yields its counter and the job's settings for it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield counter, {
            "OPS_SMTP_HOST": "127.0.0.1", "OPS_SMTP_PORT": str(port), "OPS_SMTP_SECURITY": "none", "OPS_SMTP_TIMEOUT": "30",
            "OPS_MAIL_SENDER": "OPS <no-reply@ops.example.gov>",
        }
    finally:
        controller.stop()


# -- shaping the data ------------------------------------------------------------------


def database_now(engine: sa.Engine) -> datetime:
    """The database server's clock: the job's "now" (OPS_JOB_CLOCK's default)."""
    with engine.connect() as connection:
        value = connection.execute(sa.text("SELECT now()")).scalar_one()
    return value.astimezone(timezone.utc)


def _tables(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {
            "users": load_data.qualified(connection, "ops_user"),
            "sessions": load_data.qualified(connection, "user_session"),
            "view": load_data.qualified(connection, "user_activity", own=True),
            "stamps": load_data.qualified(connection, "future_stamp", own=True),
            "mail": load_data.qualified(connection, "email_record", own=True),
        }


def _all_active(connection: sa.Connection, t: dict[str, str]) -> None:
    """Every loaded user ACTIVE (the trigger stamps a reactivation: the caller sets the view's dates after)."""
    connection.execute(sa.text(f"UPDATE {t['users']} SET status = 'ACTIVE' WHERE status <> 'ACTIVE'"))


def prepare(engine: sa.Engine, case: str, users: int, *, seed: int, now: datetime) -> dict[str, Any]:
    """Load and shape the case's data; return what the run must find."""
    t = _tables(engine)
    if case == "future":
        summary = load_data.load(engine, users=users, sessions_per_user=2, seed=seed, now=now, due=0, inactive_share=0.0)
        with engine.begin() as connection:
            _all_active(connection, t)
            connection.execute(sa.text(f"UPDATE {t['view']} SET reactivated_on = NULL"))
            # As OPS's own statements would write them: the triggers raise the view.
            connection.execute(sa.text(
                f"UPDATE {t['sessions']} s SET last_active_at = :future + s.user_id * interval '1 second' "
                f"FROM (SELECT user_id, max(last_active_at) AS latest FROM {t['sessions']} GROUP BY user_id) m "
                "WHERE s.user_id = m.user_id AND s.last_active_at = m.latest"
            ), {"future": FUTURE})
            connection.execute(sa.text(
                f"UPDATE {t['users']} u SET created_on = :future + interval '1 day' + u.id * interval '1 second' "
                f"WHERE NOT EXISTS (SELECT 1 FROM {t['sessions']} s WHERE s.user_id = u.id)"
            ), {"future": FUTURE})
            connection.execute(sa.text(
                f"UPDATE {t['view']} SET reactivated_on = :future + interval '2 days' + user_id * interval '1 second' "
                "WHERE user_id % 3 = 0"
            ), {"future": FUTURE})
            expected = {
                source: connection.execute(sa.text(f"SELECT count(*) FROM {t['view']} WHERE {column} > :limit"),
                                           {"limit": _naive(now) + timedelta(minutes=5)}).scalar_one()
                for source, column in (("SESSION", "last_active_at"), ("CREATED_ON", "created_on"), ("REACTIVATED_ON", "reactivated_on"))
            }
            holders = connection.execute(sa.text(
                f"SELECT count(*) FROM {t['view']} WHERE is_active AND GREATEST(last_active_at, created_on, reactivated_on) > :limit"
            ), {"limit": _naive(now) + timedelta(minutes=5)}).scalar_one()
        return {"loaded": summary.to_dict(), "future_dates": expected, "users_with_future_dates": holders, "due": 0}
    if case == "warn":
        summary = load_data.load(engine, users=users, sessions_per_user=0, seed=seed, now=now, due=0, inactive_share=0.0)
        with engine.begin() as connection:
            _all_active(connection, t)
            connection.execute(sa.text(f"UPDATE {t['users']} SET created_on = :created"), {"created": _naive(now) - timedelta(days=300)})
            # Last seen between 53 days 1 hour and 59 days 23 hours ago: within 7 days of the 60-day rule, none due yet.
            connection.execute(sa.text(
                f"UPDATE {t['view']} SET created_on = :created, reactivated_on = NULL, "
                "last_active_at = :now - interval '53 days 1 hour' - (user_id % 997) * interval '10 minutes'"
            ), {"created": _naive(now) - timedelta(days=300), "now": _naive(now)})
        return {"loaded": summary.to_dict(), "warnings": users, "due": 0}
    if case == "disable":
        # A quarter more users than are due: the rest are ACTIVE and seen recently, or not ACTIVE.
        summary = load_data.load(engine, users=users + users // 4, sessions_per_user=2, seed=seed, now=now, due=users)
        return {"loaded": summary.to_dict(), "due": summary.due}
    raise ValueError(f"unknown case {case!r}")


def _naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None)


# -- OPS's rows before and after -----------------------------------------------------


def ops_rows(engine: sa.Engine) -> dict[str, dict[int, str]]:
    """Each row of OPS's ops_user and user_session as its text's md5, by id: to tell whether any was rewritten."""
    t = _tables(engine)
    with engine.connect() as connection:
        return {
            name: dict(connection.execute(sa.text(f"SELECT r.id, md5(CAST(r AS text)) FROM {table} r")).all())
            for name, table in (("ops_user", t["users"]), ("user_session", t["sessions"]))
        }


def rewritten(before: dict[str, dict[int, str]], after: dict[str, dict[int, str]]) -> dict[str, int]:
    """How many rows present before differ (or are gone) after."""
    return {name: sum(1 for key, digest in rows.items() if after[name].get(key) != digest) for name, rows in before.items()}


def transactions(engine: sa.Engine) -> int:
    """Transactions committed and rolled back in this database so far (pg_stat_database)."""
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return int(connection.execute(sa.text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )).scalar_one())


# -- one case ------------------------------------------------------------------------------


def run_case(url: str, case: str, users: int, *, seed: int = 1) -> dict[str, Any]:
    """Load the case into the (migrated, empty) database at ``url``, run the job process once, check what it did."""
    if case not in CASES:
        raise ValueError(f"case must be one of {', '.join(CASES)}")
    engine = bench.open_engine(url)
    try:
        now = database_now(engine)
        started = time.perf_counter()
        expected = prepare(engine, case, users, seed=seed, now=now)
        load_seconds = round(time.perf_counter() - started, 2)
        before = ops_rows(engine) if case == "future" else None
        with smtp_sink() as (counter, smtp_env):
            load_before = os.getloadavg()
            xacts = transactions(engine)
            job = bench.run_job_process(url, "--max-disable", "0", extra_env=smtp_env, keep_log=True)
            xacts = transactions(engine) - xacts
            load_after = os.getloadavg()
            received = counter.messages
        log = job.pop("log")
        checks = check(engine, case, expected, job, log=log, received=received,
                       rewritten_rows=rewritten(before, ops_rows(engine)) if before is not None else None)
    finally:
        engine.dispose()
    return {
        "case": case,
        "users": users,
        "driver": sa.make_url(url).drivername,
        "load_seconds": load_seconds,
        "expected": expected,
        "job": job,
        "transactions": xacts,
        "smtp_received": received,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "under_target": job["seconds"] < TARGET_SECONDS,
        "checks": checks,
        "ok": all(checks.values()),
    }


def check(engine: sa.Engine, case: str, expected: dict[str, Any], job: dict[str, Any], *, log: str, received: int,
          rewritten_rows: dict[str, int] | None) -> dict[str, bool]:
    """What the run must have done, read back from the database and the job's log."""
    t = _tables(engine)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    with engine.connect() as connection:
        def count(sql: str, **params: Any) -> int:
            return int(connection.execute(sa.text(sql), params).scalar_one())

        checks = {
            "exit_code_0": job["exit_code"] == 0,
            "run_completed": job["recorded_outcome"] == "completed",
            "no_parameter_limit_error": "number of parameters" not in log,
            "log_lines_bounded": all(len(line) <= 16_384 for line in log.splitlines()) and len(log) < 1_000_000,
        }
        if case == "future":
            stamped = dict(connection.execute(sa.text(f"SELECT source, count(*) FROM {t['stamps']} GROUP BY source")).all())
            warnings = [line for line in lines if line.get("event") == "future_dates_recorded"]
            checks.update({
                "nobody_disabled": job["disabled"] == 0,
                "every_future_date_recorded": {k: v for k, v in expected["future_dates"].items() if v}
                == {str(k): v for k, v in stamped.items()},
                "no_ops_row_rewritten": rewritten_rows is not None and not any(rewritten_rows.values()),
                "one_warning_with_bounded_sample": len(warnings) == 1
                and warnings[0].get("count") == sum(expected["future_dates"].values())
                and 0 < len(warnings[0].get("sample", [])) <= LOG_SAMPLE,
                "view_counts_from_now": count(
                    f"SELECT count(*) FROM {t['view']} WHERE GREATEST(last_active_at, created_on, reactivated_on) > :limit",
                    limit=_naive(datetime.now(timezone.utc)) + timedelta(minutes=5),
                ) == 0,
            })
        elif case == "warn":
            checks.update({
                "nobody_disabled": job["disabled"] == 0,
                "every_warning_recorded_sent": count(
                    f"SELECT count(*) FROM {t['mail']} WHERE kind = :kind AND status = 'SUCCESS'", kind=KIND_WARNING
                ) == expected["warnings"],
                "server_received_each": received == expected["warnings"],
            })
        else:
            checks.update({
                "disabled_exactly_the_due": job["disabled"] == expected["due"] and job["candidates"] == expected["due"],
                "recorded_disabled": count("SELECT disabled FROM {} ORDER BY id DESC LIMIT 1".format(
                    load_data.qualified(connection, "job_run", own=True))) == expected["due"],
                "notices_sent": count(
                    f"SELECT count(*) FROM {t['mail']} WHERE kind = :kind AND status = 'SUCCESS'", kind=KIND_NOTICE
                ) == expected["due"],
                # The loader's recently seen users include a few due a warning: every message recorded sent arrived.
                "server_received_each": count(f"SELECT count(*) FROM {t['mail']} WHERE status = 'SUCCESS'") == received,
                "none_active_left_due": count(
                    f"SELECT count(*) FROM {t['users']} u JOIN {t['view']} v ON v.user_id = u.id WHERE u.status = 'ACTIVE' "
                    "AND GREATEST(v.last_active_at, v.created_on, v.reactivated_on) <= :cutoff",
                    cutoff=_naive(datetime.now(timezone.utc)) - timedelta(days=60, hours=1),
                ) == 0,
            })
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", bench.DEFAULT_PG_URL),
                        help="PostgreSQL server (either driver) [%(default)s]")
    parser.add_argument("--users", type=int, required=True, help="users the case is about (due a warning, due, holding future dates)")
    parser.add_argument("--case", choices=CASES, required=True)
    parser.add_argument("--database", default="ops_bench_scale", help="created for the run and dropped after [%(default)s]")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", dest="json_path", default=None, help="append the result to this JSON list")
    args = parser.parse_args(argv)
    if not sa.make_url(args.url).drivername.startswith("postgresql"):
        parser.error("--url must name a PostgreSQL server")
    if args.users < 1:
        parser.error("--users must be at least 1")
    with bench.postgresql_database(args.url, args.database) as url:
        result = run_case(url, args.case, args.users, seed=args.seed)
    result["machine"] = bench.machine()
    print(json.dumps(result, indent=2, default=str))
    if args.json_path:
        path = Path(args.json_path)
        kept = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps([*kept, result], indent=2, default=str) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
