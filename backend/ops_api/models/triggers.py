"""The triggers on OPS's tables that keep this project's view of each user, as SQL.

Migration s0002 creates them with the project's tables; ``flask
restore-triggers`` creates them again, as they are here, where one was lost
(OPS made a table again) or disabled. Every statement is safe to repeat.

PostgreSQL: the functions live in this project's schema, SECURITY DEFINER with
a fixed search_path (so they write this project's tables whichever role OPS's
application connects as), and each catches every error it meets and raises a
WARNING instead: a missing table, a renamed or dropped column or a lock
timeout on this project's side never fails OPS's own statement. SQLite (the
development database) has no schemas and no error handling in triggers.
"""

from __future__ import annotations

# Triggers on OPS's tables (PostgreSQL names them per table; SQLite per database).
SESSION_INSERT = "user_deactivation_session_insert"
SESSION_UPDATE = "user_deactivation_session_update"
SESSION_DELETE = "user_deactivation_session_delete"
ACCOUNT_INSERT = "user_deactivation_account_insert"
ACCOUNT_UPDATE = "user_deactivation_account_update"
TRIGGERS = {
    SESSION_INSERT: "user_session",
    SESSION_UPDATE: "user_session",
    SESSION_DELETE: "user_session",
    ACCOUNT_INSERT: "ops_user",
    ACCOUNT_UPDATE: "ops_user",
}
# The trigger functions, in this project's schema (PostgreSQL).
RECORD_SESSION = "record_session_activity"
KEEP_DELETED = "keep_deleted_session_activity"
RECORD_ACCOUNT = "record_account"

# A request within this long of the activity already recorded writes nothing.
ACTIVITY_RESOLUTION = "interval '1 minute'"
# The text form SQLAlchemy writes on SQLite (naive UTC, microseconds), for the database's clock.
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"


def create_statements(dialect: str, *, ops_schema: str | None, own_schema: str | None) -> list[str]:
    """The statements that create (or create again) every function and trigger."""
    if dialect == "postgresql":
        assert ops_schema is not None and own_schema is not None
        return _postgresql(ops_schema, own_schema)
    return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS] + _sqlite()


def drop_statements(dialect: str, *, ops_schema: str | None, own_schema: str | None) -> list[str]:
    if dialect == "postgresql":
        return [f'DROP TRIGGER IF EXISTS {name} ON "{ops_schema}"."{table}"' for name, table in TRIGGERS.items()] + [
            f'DROP FUNCTION IF EXISTS "{own_schema}"."{function}"()' for function in (RECORD_SESSION, KEEP_DELETED, RECORD_ACCOUNT)
        ]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS]


def _function(own: str, name: str, body: str, declare: str = "") -> str:
    """A trigger function in this project's schema that never fails OPS's statement: any error becomes a WARNING."""
    return f"""
CREATE OR REPLACE FUNCTION "{own}"."{name}"() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $function$
{declare}BEGIN
    BEGIN
{body}
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'user_deactivation: % on %.% not recorded: % (%)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, SQLERRM, SQLSTATE;
    END;
    RETURN {'NEW' if name == RECORD_SESSION else 'NULL'};
END
$function$"""


def _postgresql(ops: str, own: str) -> list[str]:
    activity, users, sessions = f'"{own}"."user_activity"', f'"{ops}"."ops_user"', f'"{ops}"."user_session"'
    statements = [
        _function(
            own,
            RECORD_SESSION,
            declare="DECLARE\n    account text;\n",
            body=f"""
        IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            INSERT INTO "{own}"."moved_session" (session_id, from_user_id, to_user_id, last_active_at, moved_at)
            VALUES (NEW.id, OLD.user_id, NEW.user_id, NEW.last_active_at, now() AT TIME ZONE 'UTC');
            UPDATE {activity} SET last_active_at = NEW.last_active_at
            WHERE user_id = NEW.user_id AND (last_active_at IS NULL OR last_active_at < NEW.last_active_at);
        ELSIF NEW.last_active_at IS NOT NULL THEN
            UPDATE {activity} SET last_active_at = NEW.last_active_at
            WHERE user_id = NEW.user_id
              AND (last_active_at IS NULL OR last_active_at <= NEW.last_active_at - {ACTIVITY_RESOLUTION});
        END IF;
        -- A session opened or used while its account was being disabled: after the
        -- row lock above, the status read here is the one that committed.
        IF NEW.is_active THEN
            SELECT status::text INTO account FROM {users} WHERE id = NEW.user_id;
            IF account IS DISTINCT FROM 'ACTIVE' THEN
                NEW.is_active := false;
            END IF;
        END IF;""",
        ),
        _function(
            own,
            KEEP_DELETED,
            body=f"""
        UPDATE {activity} AS a SET last_active_at = gone_latest.latest
        FROM (SELECT user_id, max(last_active_at) AS latest FROM gone GROUP BY user_id) AS gone_latest
        WHERE a.user_id = gone_latest.user_id AND gone_latest.latest IS NOT NULL
          AND (a.last_active_at IS NULL OR a.last_active_at < gone_latest.latest);""",
        ),
        _function(
            own,
            RECORD_ACCOUNT,
            body=f"""
        IF TG_OP = 'INSERT' THEN
            -- A row left by a deleted user whose id came back belongs to nobody now.
            INSERT INTO {activity} (user_id, is_active, created_on)
            VALUES (NEW.id, NEW.status::text = 'ACTIVE', NEW.created_on)
            ON CONFLICT (user_id) DO UPDATE SET is_active = EXCLUDED.is_active, created_on = EXCLUDED.created_on,
                last_active_at = NULL, reactivated_on = NULL;
        ELSE
            INSERT INTO {activity} (user_id, is_active, created_on)
            VALUES (NEW.id, OLD.status::text = 'ACTIVE', OLD.created_on)
            ON CONFLICT (user_id) DO NOTHING;
            UPDATE {activity} SET
                is_active = NEW.status::text = 'ACTIVE',
                created_on = CASE WHEN NEW.created_on IS DISTINCT FROM OLD.created_on THEN NEW.created_on ELSE created_on END,
                reactivated_on = CASE WHEN NEW.status::text = 'ACTIVE' AND OLD.status::text IS DISTINCT FROM 'ACTIVE'
                                      THEN now() AT TIME ZONE 'UTC' ELSE reactivated_on END
            WHERE user_id = NEW.id;
        END IF;""",
        ),
    ]
    record_session, keep_deleted, record_account = (f'"{own}"."{name}"()' for name in (RECORD_SESSION, KEEP_DELETED, RECORD_ACCOUNT))
    created = [
        (SESSION_INSERT, sessions, f"BEFORE INSERT ON {sessions} FOR EACH ROW EXECUTE FUNCTION {record_session}"),
        (
            SESSION_UPDATE,
            sessions,
            f"BEFORE UPDATE OF last_active_at, user_id ON {sessions} FOR EACH ROW"
            " WHEN (NEW.last_active_at IS DISTINCT FROM OLD.last_active_at OR NEW.user_id IS DISTINCT FROM OLD.user_id)"
            f" EXECUTE FUNCTION {record_session}",
        ),
        (
            SESSION_DELETE,
            sessions,
            f"AFTER DELETE ON {sessions} REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {keep_deleted}",
        ),
        (ACCOUNT_INSERT, users, f"AFTER INSERT ON {users} FOR EACH ROW EXECUTE FUNCTION {record_account}"),
        (
            ACCOUNT_UPDATE,
            users,
            f"AFTER UPDATE OF status, created_on ON {users} FOR EACH ROW"
            " WHEN (NEW.status IS DISTINCT FROM OLD.status OR NEW.created_on IS DISTINCT FROM OLD.created_on)"
            f" EXECUTE FUNCTION {record_account}",
        ),
    ]
    for name, table, definition in created:
        statements += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"CREATE TRIGGER {name} {definition}"]
    return statements


def _sqlite() -> list[str]:
    raise_activity = """
    UPDATE user_activity SET last_active_at = NEW.last_active_at
    WHERE user_id = NEW.user_id AND NEW.last_active_at IS NOT NULL
      AND (last_active_at IS NULL OR last_active_at < NEW.last_active_at);
    UPDATE user_session SET is_active = 0
    WHERE id = NEW.id AND NEW.is_active AND (SELECT status FROM ops_user WHERE id = NEW.user_id) IS NOT 'ACTIVE';"""
    return [
        f"CREATE TRIGGER {SESSION_INSERT} AFTER INSERT ON user_session FOR EACH ROW BEGIN{raise_activity}\nEND",
        (
            f"CREATE TRIGGER {SESSION_UPDATE} AFTER UPDATE OF last_active_at, user_id ON user_session FOR EACH ROW"
            " WHEN NEW.last_active_at IS NOT OLD.last_active_at OR NEW.user_id IS NOT OLD.user_id BEGIN"
            " INSERT INTO moved_session (session_id, from_user_id, to_user_id, last_active_at, moved_at)"
            f" SELECT NEW.id, OLD.user_id, NEW.user_id, NEW.last_active_at, {SQLITE_NOW} WHERE NEW.user_id IS NOT OLD.user_id;"
            f"{raise_activity}\nEND"
        ),
        (
            f"CREATE TRIGGER {SESSION_DELETE} AFTER DELETE ON user_session FOR EACH ROW BEGIN"
            " UPDATE user_activity SET last_active_at = OLD.last_active_at WHERE user_id = OLD.user_id"
            " AND OLD.last_active_at IS NOT NULL AND (last_active_at IS NULL OR last_active_at < OLD.last_active_at); END"
        ),
        (
            f"CREATE TRIGGER {ACCOUNT_INSERT} AFTER INSERT ON ops_user FOR EACH ROW BEGIN"
            " INSERT OR REPLACE INTO user_activity (user_id, is_active, created_on) VALUES (NEW.id, NEW.status = 'ACTIVE', NEW.created_on);"
            " END"
        ),
        (
            f"CREATE TRIGGER {ACCOUNT_UPDATE} AFTER UPDATE OF status, created_on ON ops_user FOR EACH ROW"
            " WHEN NEW.status IS NOT OLD.status OR NEW.created_on IS NOT OLD.created_on BEGIN"
            " INSERT OR IGNORE INTO user_activity (user_id, is_active, created_on) VALUES (NEW.id, OLD.status = 'ACTIVE', OLD.created_on);"
            " UPDATE user_activity SET is_active = (NEW.status = 'ACTIVE'),"
            " created_on = CASE WHEN NEW.created_on IS NOT OLD.created_on THEN NEW.created_on ELSE created_on END,"
            " reactivated_on = CASE WHEN NEW.status = 'ACTIVE' AND OLD.status IS NOT 'ACTIVE'"
            f" THEN {SQLITE_NOW} ELSE reactivated_on END"
            " WHERE user_id = NEW.id; END"
        ),
    ]
