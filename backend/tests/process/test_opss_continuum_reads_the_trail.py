"""OPS's own SQLAlchemy-Continuum, at OPS's pin, reads the trail the job leaves as it reads a System Admin's.

Continuum 1.7 needs SQLAlchemy below 2.1, so it is installed only where OPS's
pins are (CI's OPS-pins leg: ``pip install ".[test,continuum]"``), which sets
OPS_TEST_REQUIRE_CONTINUUM so that the test fails there instead of skipping.
"""

import importlib.util
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

from ops_api.models import User, UserStatus

import factories
from cli_runner import invoke

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
JOB_AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
READER = Path(__file__).resolve().parents[1] / "continuum_reader.py"
UPDATE = 1


@pytest.fixture
def continuum():
    if importlib.util.find_spec("sqlalchemy_continuum") is None:
        if os.environ.get("OPS_TEST_REQUIRE_CONTINUUM"):
            pytest.fail("sqlalchemy-continuum is not installed (pip install -c constraints/ops-pins.txt '.[test,continuum]')")
        pytest.skip("sqlalchemy-continuum needs SQLAlchemy < 2.1; CI's OPS-pins leg runs this test")


def read_with_continuum(database_url, user_id):
    schema = os.environ["OPS_DB_SCHEMA"] if database_url.startswith("postgresql") else "-"
    done = subprocess.run(
        [sys.executable, str(READER), database_url, schema, str(user_id)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture
def idle_person(session):
    with freeze_time(T0):
        person = factories.make_user(session, email="idle.person@example.gov")
        factories.make_session(session, person, last_active_at=T0)
        factories.make_session(session, person, last_active_at=T0)
        session.commit()
    return person


def test_continuum_sees_the_jobs_deactivation_as_the_users_next_version(continuum, app, session, database_url, idle_person):
    result = invoke(app, "disable-inactive-users", now=JOB_AT)
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(User, idle_person.id).status is UserStatus.INACTIVE

    history = read_with_continuum(database_url, idle_person.id)["user"]

    created, disabled = history
    assert [version["status"] for version in history] == ["ACTIVE", "INACTIVE"]
    assert created["end_transaction_id"] == disabled["transaction_id"]
    assert disabled["previous_transaction_id"] == created["transaction_id"]
    assert disabled["operation_type"] == UPDATE
    assert disabled["changeset"]["status"] == ["ACTIVE", "INACTIVE"]
    assert datetime.fromisoformat(disabled["issued_at"]) == JOB_AT.replace(tzinfo=None)


def test_continuum_sees_each_session_the_job_ended_in_the_same_transaction(continuum, app, session, database_url, idle_person):
    result = invoke(app, "disable-inactive-users", now=JOB_AT)
    assert result.exit_code == 0, result.output

    read = read_with_continuum(database_url, idle_person.id)

    disabled_in = read["user"][-1]["transaction_id"]
    assert len(read["sessions"]) == 2
    for versions in read["sessions"].values():
        opened, ended = versions
        assert (ended["transaction_id"], ended["operation_type"], ended["is_active"]) == (disabled_in, UPDATE, False)
        assert ended["changeset"]["is_active"] == ["True", "False"]
        assert opened["end_transaction_id"] == disabled_in
