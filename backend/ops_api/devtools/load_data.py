"""Bulk load data for benchmarks: many users and sessions, fast and deterministic.

The rows are drawn in Python from ``random.Random(seed)``, so a given seed and
``now`` give the same users and sessions on SQLite and on PostgreSQL, and are
written in bulk: ``COPY ... FROM STDIN`` on PostgreSQL (psycopg 3 or psycopg2), large
``executemany`` batches of plain values on SQLite. No ORM objects, no audit
rows: this is load for measuring, not a history anyone did.

Two shapes:

* **realistic** (``due=None``): latest activity spread over 400 days, about 5%
  who never logged in, about 10% not ACTIVE (INACTIVE or LOCKED), about 3%
  reactivated by an admin after their last activity. A good share of users is
  due, as on the first run over data no job has kept in order.
* **steady state with exactly ``due`` users due** (``due=0`` for an hourly run
  with nothing to do, ``due=1000`` for a run with work): every ACTIVE user is
  seen within the last 59 days except ``due`` chosen ones, who are 61 to 400
  days idle. INACTIVE and LOCKED users keep the realistic spread.

Either shape takes another share of INACTIVE users (``inactive_share``), and
``inactive_long_idle`` makes every INACTIVE user 61 to 400 days idle: the
accounts years of hourly runs leave behind, which the hourly search must step
over however many there are.

Times are relative to ``now`` and the 60-day rule; the loader counts who is due
at ``now`` with the rule's Python reference (ops_api.domain.inactivity), which
the benchmark checks against the service.
"""

from __future__ import annotations

import contextlib
import io
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ops_api.clock import ensure_utc
from ops_api.domain import inactivity
from ops_api.domain.defaults import DEFAULT_INACTIVE_DAYS
from ops_api.models import EmailRecord, FutureStamp, JobRun, MovedSession, UserActivity
from ops_api.models.versions import VERSION_TABLES, transaction
from ops_api.sql import qualified, schema_of

DAY = timedelta(days=1)
RULE_DAYS = DEFAULT_INACTIVE_DAYS
REALISTIC_SPAN_DAYS = 400
NEVER_LOGGED_IN = 0.05
INACTIVE_SHARE = 0.07
LOCKED_SHARE = 0.03
REACTIVATED_SHARE = 0.03
MEAN_DAYS_BETWEEN_SESSIONS = 9.0
LOAD_TABLES = ("ops_db_history", "ops_event", "user_session", "user_role", "role", "ops_user")
# OPS's version trail of those tables: emptied with them, or the reused ids would
# continue the history of other people. The bulk load itself writes no trail.
TRAIL_TABLES = (transaction.name, *(VERSION_TABLES[table].name for table in LOAD_TABLES))
# This project's own state: emptied with them, and its view of each user written by the loader.
OWN_TABLES = tuple(model.__tablename__ for model in (UserActivity, FutureStamp, MovedSession, JobRun, EmailRecord))
_BATCH = 50_000

USER_COLUMNS = ("id", "oidc_id", "email", "first_name", "last_name", "status", "created_on", "updated_on")
VIEW_COLUMNS = ("user_id", "is_active", "created_on", "last_active_at", "reactivated_on")
# The triggers that keep this project's view (migration s0002): off while the
# loader writes the rows (it writes the view itself, once), on again after.
VIEW_TRIGGERS = {
    "ops_user": ("user_deactivation_account_insert", "user_deactivation_account_update"),
    "user_session": ("user_deactivation_session_insert", "user_deactivation_session_update", "user_deactivation_session_delete"),
}


class LoadError(Exception):
    """The load cannot proceed (e.g. the tables already hold data and replace was not asked)."""


@dataclass(frozen=True)
class LoadSummary:
    users: int
    sessions: int
    active: int
    inactive: int
    locked: int
    never_logged_in: int
    reactivated: int
    due: int  # ACTIVE users due at ``now`` under the 60-day rule (none are excluded)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _PlannedUser:
    status: str
    created_days: float
    latest_days: float | None  # None: never logged in
    reactivated_days: float | None


def plan_users(
    count: int, *, seed: int, due: int | None, inactive_share: float = INACTIVE_SHARE, inactive_long_idle: bool = False
) -> list[_PlannedUser]:
    """Draw every user's status, creation, latest activity and reactivation (in days before now).

    ``inactive_share`` of the users are INACTIVE (LOCKED_SHARE more are LOCKED);
    with ``inactive_long_idle`` each INACTIVE user was last seen 61 to 400 days
    ago, as the accounts the job disabled are, instead of the realistic spread.
    The defaults draw exactly the data they always drew.
    """
    if not 0 <= inactive_share <= 1 - LOCKED_SHARE:
        raise ValueError(f"inactive_share must lie between 0 and {1 - LOCKED_SHARE}, got {inactive_share!r}")
    rng = random.Random(seed)
    statuses = []
    for _ in range(count):
        r = rng.random()
        statuses.append("INACTIVE" if r < inactive_share else "LOCKED" if r < inactive_share + LOCKED_SHARE else "ACTIVE")
    active_positions = [i for i, status in enumerate(statuses) if status == "ACTIVE"]
    if due is not None and due > len(active_positions):
        raise LoadError(f"cannot make {due} users due: only {len(active_positions)} of {count} are ACTIVE")
    due_positions = set(rng.sample(active_positions, due)) if due is not None else set()

    planned = []
    for position, status in enumerate(statuses):
        steady = due is not None and status == "ACTIVE"
        if inactive_long_idle and status == "INACTIVE":
            span_low, span_high = RULE_DAYS + 1.0, float(REALISTIC_SPAN_DAYS)
        elif not steady:
            span_low, span_high = 0.0, float(REALISTIC_SPAN_DAYS)
        elif position in due_positions:
            span_low, span_high = RULE_DAYS + 1.0, float(REALISTIC_SPAN_DAYS)
        else:
            span_low, span_high = 0.0, RULE_DAYS - 1.0
        never = rng.random() < NEVER_LOGGED_IN
        # About REACTIVATED_SHARE of all users, drawn among the ACTIVE ones.
        reactivate = rng.random() < (REACTIVATED_SHARE / max(1 - inactive_share - LOCKED_SHARE, REACTIVATED_SHARE))
        seen_days = rng.uniform(span_low, span_high)
        if never:
            planned.append(_PlannedUser(status, seen_days, None, None))
            continue
        # Reactivated users: an admin made them ACTIVE again after their last
        # activity; that moment is then what the rule counts (last seen).
        if status == "ACTIVE" and reactivate:
            latest = seen_days + rng.uniform(1.0, 300.0)
            created = latest + rng.uniform(1.0, 600.0)
            planned.append(_PlannedUser(status, created, latest, seen_days))
        else:
            created = seen_days + rng.uniform(1.0, 600.0)
            planned.append(_PlannedUser(status, created, seen_days, None))
    return planned


def _rule_is_due(user: _PlannedUser, now: datetime) -> bool:
    """Whether the rule disables this user at ``now``, from the dates the loader writes."""

    def days_before(days: float | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    seen = inactivity.last_seen(
        now=now,
        activity=days_before(user.latest_days),
        reactivated_on=days_before(user.reactivated_days),
        created_on=days_before(user.created_days),
    )
    return inactivity.is_due(seen, now, timedelta(days=RULE_DAYS), active=user.status == "ACTIVE")


def _user_rows(planned: list[_PlannedUser], *, now: datetime, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed * 7919 + 1)
    for number, user in enumerate(planned, start=1):
        created = _naive(now - timedelta(days=user.created_days))
        reactivated = None if user.reactivated_days is None else _naive(now - timedelta(days=user.reactivated_days))
        oidc_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        yield (number, oidc_id, f"load.user{number}@example.gov", "Load", f"User{number}", user.status,
               created, reactivated or created)


def _view_rows(planned: list[_PlannedUser], *, now: datetime) -> Iterator[tuple[Any, ...]]:
    """This project's view of each user: what the triggers would have recorded (session k = 0 is the latest activity)."""
    for number, user in enumerate(planned, start=1):
        yield (
            number,
            user.status == "ACTIVE",
            _naive(now - timedelta(days=user.created_days)),
            None if user.latest_days is None else _naive(now - timedelta(days=user.latest_days)),
            None if user.reactivated_days is None else _naive(now - timedelta(days=user.reactivated_days)),
        )


def _naive(value: datetime) -> datetime:
    """OPS's timestamps are without time zone, holding UTC."""
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _plan_rows(planned: list[_PlannedUser], *, now: datetime) -> Iterator[tuple[Any, ...]]:
    """(user id, latest activity, created, open) for each user who ever logged in."""
    for user_id, user in enumerate(planned, start=1):
        if user.latest_days is None:
            continue
        is_open = user.status == "ACTIVE" and user.latest_days < 1
        yield (user_id, _naive(now - timedelta(days=user.latest_days)), _naive(now - timedelta(days=user.created_days)), is_open)


# Sessions are made set-based from load_plan: session k = 0 is the user's latest
# activity; session k >= 1 lies about k * MEAN_DAYS_BETWEEN_SESSIONS days
# earlier (a deterministic jitter of +-50% from the user id, k and the seed),
# never before the account was created. Rows go in in time order, as a live
# system writes them. The jitter is plain integer arithmetic, the same on both
# databases.
_JITTER = "(((CAST(p.user_id AS BIGINT) * 2654435761 + k.n * 40503 + :seed * 97) % 1000003) / 1000003.0)"
_MINUTES = "(1 + ((CAST(p.user_id AS BIGINT) * 40503 + k.n * 2654435761 + :seed) % 240))"

_SESSIONS_POSTGRESQL = f"""
INSERT INTO {{user_session}} (user_id, is_active, ip_address, access_token, refresh_token, last_active_at, created_on, updated_on)
SELECT user_id, is_active, ip_address, '', '', last_active_at, last_active_at - make_interval(mins => minutes), last_active_at
FROM (
    SELECT p.user_id,
           (k.n = 0 AND p.is_open) AS is_active,
           '10.' || (p.user_id % 250) || '.' || k.n || '.1' AS ip_address,
           CASE WHEN k.n = 0 THEN p.latest_at
                ELSE greatest(p.latest_at - make_interval(secs => 86400 * k.n * :gap * (0.5 + {_JITTER})),
                              p.created_on + interval '1 minute') END AS last_active_at,
           {_MINUTES}::int AS minutes
    FROM load_plan p CROSS JOIN generate_series(0, :per_user - 1) AS k(n)
) AS s
ORDER BY last_active_at
"""

_SESSIONS_SQLITE = f"""
WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < :per_user - 1)
INSERT INTO user_session (user_id, is_active, ip_address, access_token, refresh_token, last_active_at, created_on, updated_on)
SELECT user_id, is_active, ip_address, '', '', last_active_at,
       strftime('%Y-%m-%d %H:%M:%f', julianday(last_active_at) - minutes / 1440.0) || '000', last_active_at
FROM (
    SELECT p.user_id,
           (k.n = 0 AND p.is_open) AS is_active,
           '10.' || (p.user_id % 250) || '.' || k.n || '.1' AS ip_address,
           CASE WHEN k.n = 0 THEN p.latest_at
                ELSE strftime('%Y-%m-%d %H:%M:%f',
                              max(julianday(p.latest_at) - k.n * :gap * (0.5 + {_JITTER}),
                                  julianday(p.created_on) + 1 / 1440.0)) || '000' END AS last_active_at,
           {_MINUTES} AS minutes
    FROM load_plan p CROSS JOIN k
) AS s
ORDER BY last_active_at
"""


def load(
    bind: Engine | Connection,
    *,
    users: int,
    sessions_per_user: int,
    seed: int,
    now: datetime,
    due: int | None = None,
    replace: bool = False,
    inactive_share: float = INACTIVE_SHARE,
    inactive_long_idle: bool = False,
    vacuum: bool = True,
) -> LoadSummary:
    """Fill the (migrated) database with ``users`` users and their sessions; commit; analyze.

    Refuses (LoadError) when ops_user already holds rows, unless ``replace``,
    which first empties the user, session, role, event and history tables and
    their version trail. ``inactive_share`` and ``inactive_long_idle``: see
    plan_users. ``vacuum=False`` leaves the PostgreSQL tables as a bulk insert
    leaves them, analyzed but never vacuumed (no page marked all-visible).
    """
    import time

    if users < 1 or sessions_per_user < 0:
        raise ValueError("users must be at least 1 and sessions_per_user at least 0")
    now = ensure_utc(now)
    started = time.perf_counter()
    engine = bind.engine if isinstance(bind, Connection) else bind
    planned = plan_users(users, seed=seed, due=due, inactive_share=inactive_share, inactive_long_idle=inactive_long_idle)
    with engine.begin() as connection:
        existing: int = connection.execute(sa.text(f"SELECT count(*) FROM {qualified(connection, 'ops_user')}")).scalar_one()
        if existing and not replace:
            raise LoadError(f"ops_user already holds {existing} rows; load into an empty database, or replace its rows")
        emptied = [qualified(connection, table) for table in (*LOAD_TABLES, *TRAIL_TABLES)]
        emptied += [qualified(connection, table, own=True) for table in OWN_TABLES]
        if connection.dialect.name == "postgresql":
            if existing or replace:
                connection.execute(sa.text(f"TRUNCATE {', '.join(emptied)} RESTART IDENTITY CASCADE"))
            _copy_postgresql(connection, planned, per_user=sessions_per_user, now=now, seed=seed)
        else:
            if existing or replace:
                for table in emptied:
                    connection.execute(sa.text(f"DELETE FROM {table}"))
            _insert_sqlite(connection, planned, per_user=sessions_per_user, now=now, seed=seed)
    analyze(engine, vacuum=vacuum)
    never = sum(1 for p in planned if p.latest_days is None)
    return LoadSummary(
        users=users,
        sessions=(users - never) * sessions_per_user,
        active=sum(1 for p in planned if p.status == "ACTIVE"),
        inactive=sum(1 for p in planned if p.status == "INACTIVE"),
        locked=sum(1 for p in planned if p.status == "LOCKED"),
        never_logged_in=never,
        reactivated=sum(1 for p in planned if p.reactivated_days is not None),
        due=sum(1 for p in planned if _rule_is_due(p, now)),
        seconds=round(time.perf_counter() - started, 2),
    )


def analyze(engine: Engine, *, vacuum: bool = True) -> None:
    """Fresh planner statistics (and, on PostgreSQL with ``vacuum``, a vacuumed visibility map for index-only scans)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in (qualified(connection, "ops_user"), qualified(connection, "user_session"),
                          qualified(connection, UserActivity.__tablename__, own=True)):
                connection.execute(sa.text(f"{'VACUUM ANALYZE' if vacuum else 'ANALYZE'} {table}"))
        else:
            connection.execute(sa.text("ANALYZE"))
            connection.commit()


def _driver_cursor(connection: Connection) -> Any:
    """A cursor of the driver's own (COPY and executemany go around SQLAlchemy here)."""
    driver_connection = connection.connection.driver_connection
    if driver_connection is None:
        raise LoadError("the database connection was closed")
    return driver_connection.cursor()


def _copy_postgresql(connection: Connection, planned: list[_PlannedUser], *, per_user: int, now: datetime, seed: int) -> None:
    users, sessions = qualified(connection, "ops_user"), qualified(connection, "user_session")
    view = qualified(connection, UserActivity.__tablename__, own=True)
    cursor = _driver_cursor(connection)
    with _view_triggers_off(connection, users, VIEW_TRIGGERS["ops_user"]):
        _copy_in(cursor, f"COPY {users} ({', '.join(USER_COLUMNS)}) FROM STDIN", _user_rows(planned, now=now, seed=seed))
    _copy_in(cursor, f"COPY {view} ({', '.join(VIEW_COLUMNS)}) FROM STDIN", _view_rows(planned, now=now))
    cursor.execute("CREATE TEMP TABLE load_plan (user_id int, latest_at timestamp, created_on timestamp, is_open boolean) ON COMMIT DROP")
    _copy_in(cursor, "COPY load_plan FROM STDIN", _plan_rows(planned, now=now))
    if per_user:
        with _without_secondary_structures(connection, sessions), _view_triggers_off(connection, sessions, VIEW_TRIGGERS["user_session"]):
            connection.execute(sa.text("SET LOCAL work_mem = '256MB'"))
            connection.execute(
                sa.text(_SESSIONS_POSTGRESQL.format(user_session=sessions)),
                {"seed": seed, "per_user": per_user, "gap": MEAN_DAYS_BETWEEN_SESSIONS},
            )
    # Ids were given explicitly: move the sequences past the rows. OPS's user
    # id sequence belongs to no column, so it is named, not looked up.
    schema = schema_of(connection)
    cursor.execute(f"SELECT setval('\"{schema}\".ops_user_id_seq', coalesce(max(id), 0) + 1, false) FROM {users}")
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('{sessions}', 'id'), coalesce(max(id), 0) + 1, false) FROM {sessions}")


def _copy_in(cursor: Any, statement: str, rows: Iterator[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` through either driver: psycopg 3 adapts each row itself;
    psycopg2 reads text-format lines from a file, sent in batches so memory stays flat."""
    if hasattr(cursor, "copy"):  # psycopg 3
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    batch = io.StringIO()
    for count, row in enumerate(rows, start=1):
        batch.write("\t".join(_copy_text(value) for value in row))
        batch.write("\n")
        if count % _COPY_BATCH_ROWS == 0:
            _send_batch(cursor, statement, batch)
            batch = io.StringIO()
    if batch.tell():
        _send_batch(cursor, statement, batch)


_COPY_BATCH_ROWS = 50_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _send_batch(cursor: Any, statement: str, batch: io.StringIO) -> None:
    batch.seek(0)
    cursor.copy_expert(statement, batch)


def _copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


@contextlib.contextmanager
def _view_triggers_off(connection: Connection, table: str, triggers: tuple[str, ...]) -> Iterator[None]:
    """Switch off the triggers that keep this project's view, on one of OPS's tables; on again after.

    They would write the view once per row; the loader writes each user's
    view itself, once. (A plain ALTER TABLE: it needs the table's owner, as
    the loader, a development tool, always is.)
    """
    present: set[str] = set(
        connection.execute(
            sa.text("SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass)"), {"table": table}
        ).scalars()
    )
    switched = [name for name in triggers if name in present]
    for name in switched:
        connection.execute(sa.text(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"'))
    yield
    for name in switched:
        connection.execute(sa.text(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"'))


@contextlib.contextmanager
def _without_secondary_structures(connection: Connection, table: str) -> Iterator[None]:
    """Drop the table's foreign keys and secondary indexes; restore them after.

    A foreign key checked row by row costs a trigger call per row and per
    constraint; validating it once afterwards is a single join. The same goes
    for building an index once rather than growing it a row at a time.
    """
    constraints = connection.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f' ORDER BY conname"
        ),
        {"table": table},
    ).all()
    indexes = connection.execute(
        sa.text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname"
        ),
        {"table": table},
    ).all()
    schema = schema_of(connection)
    for name, _ in constraints:
        connection.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        connection.execute(sa.text(f'DROP INDEX "{schema}"."{name}"'))
    yield
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '256MB'"))
    for _, definition in indexes:
        connection.execute(sa.text(str(definition)))
    for name, definition in constraints:
        connection.execute(sa.text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def _sqlite_time(value: datetime | None) -> str | None:
    # The text form SQLAlchemy's SQLite DateTime writes (naive UTC, microseconds).
    if value is None:
        return None
    return (_naive(value) if value.tzinfo else value).isoformat(" ", "microseconds")


def _insert_sqlite(connection: Connection, planned: list[_PlannedUser], *, per_user: int, now: datetime, seed: int) -> None:
    cursor = _driver_cursor(connection)

    def batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    # The view's triggers stay off while the rows go in (the loader writes the
    # view itself), and the sessions' secondary indexes are built once, after.
    triggers = cursor.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('ops_user', 'user_session')"
    ).fetchall()
    indexes = (
        cursor.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user_session' AND sql IS NOT NULL"
        ).fetchall()
        if per_user
        else []
    )
    for kind, name, _ in (*triggers, *indexes):
        cursor.execute(f'DROP {kind.upper()} "{name}"')
    users_sql = f"INSERT INTO ops_user ({', '.join(USER_COLUMNS)}) VALUES ({', '.join('?' * len(USER_COLUMNS))})"
    for batch in batches(_user_rows(planned, now=now, seed=seed)):
        cursor.executemany(
            users_sql,
            [(i, o.hex, e, first, last, s, _sqlite_time(c), _sqlite_time(u)) for i, o, e, first, last, s, c, u in batch],
        )
    view_sql = f"INSERT INTO user_activity ({', '.join(VIEW_COLUMNS)}) VALUES ({', '.join('?' * len(VIEW_COLUMNS))})"
    for batch in batches(_view_rows(planned, now=now)):
        cursor.executemany(
            view_sql,
            [(i, int(active), _sqlite_time(c), _sqlite_time(a), _sqlite_time(r)) for i, active, c, a, r in batch],
        )
    cursor.execute("CREATE TEMP TABLE load_plan (user_id INTEGER, latest_at TEXT, created_on TEXT, is_open INTEGER)")
    for batch in batches(_plan_rows(planned, now=now)):
        cursor.executemany(
            "INSERT INTO load_plan VALUES (?, ?, ?, ?)",
            [(u, _sqlite_time(t), _sqlite_time(c), int(o)) for u, t, c, o in batch],
        )
    if per_user:
        cursor.execute(_SESSIONS_SQLITE, {"seed": seed, "per_user": per_user, "gap": MEAN_DAYS_BETWEEN_SESSIONS})
    for _, _, definition in (*indexes, *triggers):
        cursor.execute(definition)
    cursor.execute("DROP TABLE load_plan")
