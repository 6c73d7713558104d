"""Logins racing the job: whoever logs in before the job reaches them stays ACTIVE, nobody is half-applied."""

import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ops_api.clock import utcnow
from ops_api.models import OpsEvent, OpsEventType, User, UserSession, UserStatus
from ops_api.services.users.sign_in import FakeAuthProvider, log_in

import factories

DUE_USERS = 500
LOGINS = 150


@pytest.mark.postgres_only
def test_logins_during_a_run_keep_exactly_those_users_active(app, session, database_url):
    long_ago = utcnow() - 400 * timedelta(days=1)
    oidc_ids = [uuid.uuid4() for _ in range(DUE_USERS)]
    session.execute(
        insert(User),
        [
            {"oidc_id": oidc, "email": f"racer{i}@example.gov", "status": UserStatus.ACTIVE, "created_on": long_ago, "updated_on": long_ago}
            for i, oidc in enumerate(oidc_ids)
        ],
    )
    session.commit()
    engine = factories.open_engine(database_url, pool_size=8)
    started = threading.Event()
    report_box = []

    def run_the_job():
        with Session(engine) as job_session, app.app_context():
            started.set()
            report_box.append(factories.run_job(job_session, max_disable=0))

    def log_in_once(oidc_id):
        with Session(engine) as login_session:
            outcome = log_in(login_session, FakeAuthProvider(), {"oidc_id": str(oidc_id)})
            login_session.commit()
            return oidc_id, outcome.failure is None

    chosen = random.Random(2026).sample(oidc_ids, LOGINS)
    job = threading.Thread(target=run_the_job)
    job.start()
    started.wait(timeout=30)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = dict(pool.map(log_in_once, chosen, timeout=120))
    job.join(timeout=180)
    engine.dispose()

    assert not job.is_alive()
    (report,) = report_box
    assert report.failed == []
    logged_in = {oidc for oidc, ok in outcomes.items() if ok}
    assert 0 < len(logged_in) < LOGINS, "the logins did not overlap the run; the race was not exercised"

    session.expire_all()
    users = {u.oidc_id: u for u in session.scalars(select(User).where(User.oidc_id.in_(oidc_ids)))}
    for oidc, user in users.items():
        expected = UserStatus.ACTIVE if oidc in logged_in else UserStatus.INACTIVE
        assert user.status is expected, (user.id, oidc in outcomes)
    inactive_ids = {u.id for u in users.values() if u.status is UserStatus.INACTIVE}
    live_sessions = set(session.scalars(select(UserSession.user_id).where(UserSession.is_active.is_(True))))
    assert not inactive_ids & live_sessions, "an INACTIVE user still has an active session"
    events = session.scalars(select(OpsEvent).where(OpsEvent.event_type == OpsEventType.UPDATE_USER)).all()
    per_user = Counter(e.event_details["user_id"] for e in events)
    assert set(per_user) == inactive_ids and set(per_user.values()) == {1}
    assert sorted(report.disabled) == sorted(inactive_ids)
