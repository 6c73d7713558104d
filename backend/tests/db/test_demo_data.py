"""`seed-demo` data: the roles, the System Admin, FakeAuth users and the ordinary mix."""

from datetime import datetime, timezone

from freezegun import freeze_time
from sqlalchemy import func, select

from ops_api.devtools.demo_data import FAKEAUTH_USERS, ORDINARY_USERS, seed_demo
from ops_api.domain.defaults import FAKEAUTH_OIDC_IDS
from ops_api.models import Role, User, UserSession, UserStatus
from ops_api.services.users.accounts import SYSTEM_ADMIN_OIDC_ID

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def test_seed_creates_the_system_admin_fakeauth_users_and_ordinary_users(session):
    with freeze_time(NOW):
        seed_demo(session, now=NOW)
        session.commit()

    oidc_ids = set(session.scalars(select(User.oidc_id)))
    assert SYSTEM_ADMIN_OIDC_ID in oidc_ids
    assert set(FAKEAUTH_OIDC_IDS) <= oidc_ids
    assert session.scalar(select(func.count()).select_from(User)) == 1 + len(FAKEAUTH_USERS) + len(ORDINARY_USERS)
    admin_demo = session.scalar(select(User).where(User.email == "admin.demo@email.com"))
    assert admin_demo.role_names == ["USER_ADMIN"]


def test_seed_places_ordinary_users_relative_to_now(session):
    with freeze_time(NOW):
        seed_demo(session, now=NOW)
        session.commit()

    def user(email):
        return session.scalar(select(User).where(User.email == email))

    bruno = user("bruno.sixtyone@example.gov")
    last = session.scalar(select(func.max(UserSession.last_active_at)).where(UserSession.user_id == bruno.id))
    assert (NOW - last).days == 61
    assert (NOW - user("esther.neverlogged@example.gov").created_on).days == 70
    assert (NOW - user("farid.returned@example.gov").reactivated_on).days == 5
    assert user("greta.locked@example.gov").status is UserStatus.LOCKED
    assert user("hugo.disabled@example.gov").status is UserStatus.INACTIVE


def test_seeding_twice_adds_nothing(session):
    seed_demo(session, now=NOW)
    session.commit()
    counts = [session.scalar(select(func.count()).select_from(model)) for model in (User, Role, UserSession)]

    assert seed_demo(session, now=NOW) == 0
    session.commit()

    assert [session.scalar(select(func.count()).select_from(model)) for model in (User, Role, UserSession)] == counts
