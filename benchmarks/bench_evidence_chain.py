"""Benchmark: verifying a month of the evidence chain (720 hourly run records), as the report and health check do.

On a freshly migrated database (SQLite in a temporary file; PostgreSQL in a
database of its own, dropped afterwards, when one answers), it writes 720 run
records an hour apart through the job's own ``append_record``, signed with a
key, one in 24 naming an UPDATE_USER event (30 events), then times
``verify_period`` over that month, reading and checking every record, link,
seal and named event. The target is under 1 s.

Run with the project's virtualenv, from the repository root:

    python benchmarks/bench_evidence_chain.py [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

os.environ.setdefault("OPS_ENV_NAME", "local")

RECORDS = 720
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY = "benchmark-evidence-key-0123456789abcdef0123456789"
REPEATS = 7


def measure(url: str) -> dict[str, object]:
    from flask_migrate import upgrade
    from sqlalchemy.orm import Session

    from ops_api import create_app
    from ops_api.domain.evidence_chain import EvidenceKeys
    from ops_api.extensions import db
    from ops_api.models import JobRun, OpsEvent, OpsEventStatus, OpsEventType, RecordStatus
    from ops_api.services import evidence

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    keys = EvidenceKeys.from_settings(KEY)
    with app.app_context():
        upgrade()
        engine = db.engine
        with Session(bind=engine) as session:
            for hour in range(RECORDS):
                at = START + timedelta(hours=hour)
                named = []
                if hour % 24 == 0:
                    event = OpsEvent(event_type=OpsEventType.UPDATE_USER, event_status=OpsEventStatus.SUCCESS,
                                     event_details={"user_id": hour, "new_status": "INACTIVE"}, created_on=at, updated_on=at)
                    session.add(event)
                    session.commit()
                    named.append(evidence.disabled_event(session, hour, event.id))
                run = JobRun(started_at=at, finished_at=at + timedelta(seconds=2), status=RecordStatus.SUCCESS,
                             outcome="completed", dry_run=False, as_of=at, threshold_days=60, max_disable=50,
                             candidates=len(named), disabled=len(named), failed=0, no_longer_due=0,
                             duration_seconds=0.25, errors=[], disabled_events=named, reconciled=hour % 24 == 0)
                evidence.append_record(session, run, keys)
                session.commit()
        timings = []
        for _ in range(REPEATS):
            with Session(bind=engine) as session:
                began = time.perf_counter()
                verdict = evidence.verify_period(session, keys, start=START, end=START + timedelta(days=30))
                timings.append(time.perf_counter() - began)
            if not verdict.intact or verdict.records != RECORDS:
                raise SystemExit(f"unexpected verdict: {verdict.describe()}")
        engine.dispose()
    return {
        "database": sa.make_url(url).get_backend_name(),
        "records": RECORDS,
        "events": RECORDS // 24,
        "median_seconds": round(statistics.median(timings), 4),
        "max_seconds": round(max(timings), 4),
        "verdict": verdict.describe(),
    }


@contextmanager
def sqlite_url() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="ops-bench-chain-")
    try:
        yield f"sqlite:///{folder}/bench.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgresql_url(base_url: str, name: str = "ops_bench_chain") -> Iterator[str]:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server to create the benchmark's database on; empty: SQLite only")
    arguments = parser.parse_args()
    with sqlite_url() as url:
        print(json.dumps(measure(url)))
    if arguments.pg_url:
        with postgresql_url(arguments.pg_url) as url:
            print(json.dumps(measure(url)))


if __name__ == "__main__":
    main()
