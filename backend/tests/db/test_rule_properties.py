"""Property: over random populations and instants, the job disables exactly the users the
rule's Python reference (ops_api.domain.inactivity) says are due, and a second run changes nothing."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from freezegun import freeze_time
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, update

from ops_api.domain import inactivity
from ops_api.models import (
    FutureStamp,
    JobRun,
    MovedSession,
    OpsDBHistory,
    OpsEvent,
    Role,
    User,
    UserActivity,
    UserSession,
    UserStatus,
    user_role,
)

from factories import run_job

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
THRESHOLD = timedelta(days=60)
SECONDS_PER_DAY = 86_400

# Offsets in seconds before "now": anywhere in 400 days, or within seconds of the threshold.
ages = st.one_of(
    st.integers(min_value=0, max_value=400 * SECONDS_PER_DAY),
    st.integers(min_value=60 * SECONDS_PER_DAY - 2, max_value=60 * SECONDS_PER_DAY + 2),
)
# Session activity may also lie in the future (clock skew).
activity_ages = st.one_of(ages, st.integers(min_value=-30 * SECONDS_PER_DAY, max_value=-1))


@dataclass(frozen=True)
class Person:
    status: UserStatus
    created_age: int
    reactivated_age: int | None
    session_ages: tuple[int, ...]
    excluded: bool


people = st.builds(
    Person,
    # Mostly ACTIVE and not excluded, so most examples exercise the rule itself.
    status=st.sampled_from([UserStatus.ACTIVE] * 4 + [UserStatus.INACTIVE, UserStatus.LOCKED]),
    created_age=st.integers(min_value=0, max_value=800 * SECONDS_PER_DAY),
    reactivated_age=st.one_of(st.none(), ages),
    session_ages=st.lists(activity_ages, max_size=3).map(tuple),
    excluded=st.sampled_from([False] * 4 + [True]),
)


def oracle_is_due(person: Person, now: datetime) -> bool:
    """The rule as its Python reference reads it, independently of the SQL."""
    created = now - timedelta(seconds=person.created_age)
    reactivated = None
    if person.reactivated_age is not None:
        reactivated = max(created, now - timedelta(seconds=person.reactivated_age))
    sessions = [now - timedelta(seconds=age) for age in person.session_ages]
    last_seen = inactivity.last_seen(
        now=now, latest_session=max(sessions, default=None), reactivated_on=reactivated, created_on=created
    )
    return inactivity.is_due(
        last_seen, now, THRESHOLD, active=person.status is UserStatus.ACTIVE, excluded=person.excluded
    )


def reset(session):
    """Empty the tables between examples: each example is a database of its own, at its own instant."""
    for table in (OpsDBHistory, OpsEvent, UserSession, JobRun, FutureStamp, MovedSession, UserActivity):
        session.execute(delete(table))
    session.execute(delete(user_role))
    session.execute(delete(Role))
    session.execute(update(User).values(created_by=None, updated_by=None))  # self-references
    session.execute(delete(User))
    session.commit()


def load(session, population, now):
    ids = {}
    for index, person in enumerate(population):
        created = now - timedelta(seconds=person.created_age)
        reactivated = None
        if person.reactivated_age is not None:
            reactivated = max(created, now - timedelta(seconds=person.reactivated_age))
        user_id = session.execute(
            insert(User).returning(User.id),
            {
                "oidc_id": uuid.uuid4(),
                "email": f"p{index}@example.gov",
                "status": person.status,
                "created_on": created,
                "updated_on": created,
            },
        ).scalar_one()
        if reactivated is not None:  # made ACTIVE again by an admin: the moment lives in the project's view
            session.execute(update(UserActivity).where(UserActivity.user_id == user_id).values(reactivated_on=reactivated))
        for age in person.session_ages:
            at = now - timedelta(seconds=age)
            session.execute(
                insert(UserSession),
                {"user_id": user_id, "ip_address": "10.0.0.1", "is_active": True, "last_active_at": at, "created_on": created, "updated_on": created},
            )
        ids[index] = user_id
    session.commit()
    return ids


AT_THRESHOLD = 60 * SECONDS_PER_DAY


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The boundaries, always tried: activity, creation and reactivation exactly at the threshold.
@example(population=[Person(UserStatus.ACTIVE, 100 * SECONDS_PER_DAY, None, (AT_THRESHOLD,), False)], offset=0)
@example(population=[Person(UserStatus.ACTIVE, AT_THRESHOLD, None, (), False)], offset=0)
@example(population=[Person(UserStatus.ACTIVE, 300 * SECONDS_PER_DAY, AT_THRESHOLD, (), False)], offset=0)
@given(population=st.lists(people, min_size=1, max_size=8), offset=st.integers(min_value=0, max_value=365 * SECONDS_PER_DAY))
def test_the_job_disables_exactly_the_users_the_rule_says_are_due(session, population, offset):
    now = BASE + timedelta(seconds=offset)
    reset(session)
    ids = load(session, population, now)
    excluded = [session.get(User, ids[i]).oidc_id for i, p in enumerate(population) if p.excluded]
    expected = {ids[i] for i, p in enumerate(population) if oracle_is_due(p, now)}

    with freeze_time(now):
        first = run_job(session, excluded_oidc_ids=excluded, max_disable=0)
        events_after_first = session.scalar(select(func.count()).select_from(OpsEvent))
        second = run_job(session, excluded_oidc_ids=excluded, max_disable=0)

    assert set(first.disabled) == expected
    assert first.failed == []
    assert second.candidates == [] and second.disabled == []
    assert session.scalar(select(func.count()).select_from(OpsEvent)) == events_after_first == len(expected)
    session.expire_all()
    statuses = dict(session.execute(select(User.id, User.status)).all())
    for index, person in enumerate(population):
        wanted = UserStatus.INACTIVE if ids[index] in expected else person.status
        assert statuses[ids[index]] is wanted
