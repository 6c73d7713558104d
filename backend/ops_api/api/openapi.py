"""The OpenAPI 3 description of the API, written by hand as data and served at /api/v1/openapi.json.

A test compares its paths and methods with the application's routes, so a
route added without a description here (or the reverse) fails the suite.
"""

from __future__ import annotations

from typing import Any

from ops_api.models import RoleName, UserStatus

OPENAPI_VERSION = "3.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
    "description": "The user's id.",
}

# Answers every authenticated route can give.
_AUTH_ERRORS = {
    "401": _error("Missing, malformed or expired token; ended session; or the caller is not ACTIVE."),
    "503": _error("Authentication is not configured on this server."),
}
_ADMIN_ERRORS = {**_AUTH_ERRORS, "403": _error("The caller is not a user administrator.")}

_NULLABLE_STRING = {"type": ["string", "null"]}
_TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601."}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "The one shape of every error answer.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": (
                            "Stable and machine-readable, e.g. bad_request, validation_error, unauthorized, "
                            "token_expired, session_ended, account_not_active, forbidden, not_found, "
                            "method_not_allowed, invalid_status_change, unknown_user, account_inactive, "
                            "account_locked, provider_not_enabled, auth_not_configured, internal_error."
                        ),
                    },
                    "message": {"type": "string", "description": "For people; never a stack trace."},
                    "fields": {
                        "type": "object",
                        "description": "Each request field in error, with its problems; empty otherwise.",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    },
    "LoginRequest": {
        "type": "object",
        "required": ["provider"],
        "description": "The provider's name and that provider's own fields. FakeAuth reads only oidc_id.",
        "properties": {
            "provider": {"type": "string", "examples": ["fakeauth"]},
            "oidc_id": {"type": "string", "format": "uuid", "description": "FakeAuth: the account to log in as."},
        },
    },
    "TokenPair": {
        "type": "object",
        "required": ["access_token", "refresh_token"],
        "properties": {"access_token": {"type": "string"}, "refresh_token": {"type": "string"}},
    },
    "AccessToken": {
        "type": "object",
        "required": ["access_token"],
        "properties": {"access_token": {"type": "string"}},
    },
    "User": {
        "type": "object",
        "required": ["id", "email", "first_name", "last_name", "status", "roles"],
        "properties": {
            "id": {"type": "integer"},
            "oidc_id": {"type": ["string", "null"], "format": "uuid"},
            "email": _NULLABLE_STRING,
            "first_name": _NULLABLE_STRING,
            "last_name": _NULLABLE_STRING,
            "full_name": {"type": "string"},
            "status": {"type": "string", "enum": list(UserStatus.__members__)},
            "roles": {"type": "array", "items": {"type": "string", "enum": [r.value for r in RoleName]}},
            "reactivated_on": {**_TIMESTAMP, "type": ["string", "null"]},
            "created_on": _TIMESTAMP,
            "updated_on": _TIMESTAMP,
            "last_seen": {**_TIMESTAMP, "description": "Latest activity, reactivation or creation (admin views)."},
            "days_inactive": {"type": "integer", "description": "Whole days since last_seen (admin views)."},
            "disable_due": {
                **_TIMESTAMP,
                "type": ["string", "null"],
                "description": (
                    "When the inactivity job will disable the user if nothing changes (admin views); "
                    "null for excluded and non-ACTIVE users."
                ),
            },
        },
    },
    "InactiveUsers": {
        "type": "object",
        "required": ["as_of", "threshold_days", "users"],
        "properties": {
            "as_of": _TIMESTAMP,
            "threshold_days": {"type": "integer"},
            "users": {
                "type": "array",
                "description": "The users the job would disable at as_of, longest inactive first.",
                "items": {
                    "type": "object",
                    "required": ["user_id", "email", "last_seen", "days_inactive"],
                    "properties": {
                        "user_id": {"type": "integer"},
                        "email": _NULLABLE_STRING,
                        "last_seen": _TIMESTAMP,
                        "days_inactive": {"type": "integer"},
                    },
                },
            },
        },
    },
    "JobHealth": {
        "type": "object",
        "required": ["job", "healthy", "status", "checked_at", "max_age_seconds"],
        "properties": {
            "job": {"type": "string", "examples": ["disable-inactive-users"]},
            "healthy": {"type": "boolean"},
            "status": {"type": "string", "enum": ["ok"]},
            "checked_at": _TIMESTAMP,
            "max_age_seconds": {"type": "integer"},
            "last_success_at": {**_TIMESTAMP, "type": ["string", "null"]},
            "age_seconds": {"type": ["integer", "null"]},
            "last_run_at": {**_TIMESTAMP, "type": ["string", "null"]},
            "last_run_outcome": _NULLABLE_STRING,
        },
    },
    "UserList": {
        "type": "object",
        "required": ["users"],
        "properties": {"users": {"type": "array", "items": _ref("User")}},
    },
    "UserPatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "description": (
            "Any of these fields; any other field is refused. A status change goes through the same "
            "service as the inactivity job: INACTIVE and LOCKED end every session of the user."
        ),
        "properties": {
            "status": {"type": "string", "enum": list(UserStatus.__members__)},
            "reason": {"type": "string", "description": "Why the status changes (only with status)."},
            "first_name": _NULLABLE_STRING,
            "last_name": _NULLABLE_STRING,
            "email": {"type": "string", "format": "email"},
            "roles": {
                "type": "array",
                "items": {"type": "string", "enum": [r.value for r in RoleName]},
                "description": "The complete new list of role names.",
            },
        },
    },
}

_REPORT_BOUND = {"type": "string", "examples": ["2026-03-01", "2026-03-01T12:00:00Z"]}

SCHEMAS["DeactivationEvidence"] = {
    "type": "object",
    "description": (
        "AC-2(3) evidence for [from, to): every deactivation (automatic and manual) with its actor, reason, "
        "last activity, warnings and notices; every run-summary event; and the whole hours without a real run."
    ),
    "required": ["from", "to", "generated_at", "threshold_days", "summary", "deactivations", "runs", "gaps"],
    "properties": {
        "from": _TIMESTAMP,
        "to": _TIMESTAMP,
        "generated_at": _TIMESTAMP,
        "threshold_days": {"type": "integer"},
        "summary": {"type": "object", "description": "Counts: deactivations, automatic, manual, runs by outcome, hours with and without a real run."},
        "deactivations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "event_id": {"type": "integer"},
                    "user_id": {"type": "integer"},
                    "email": _NULLABLE_STRING,
                    "disabled_at": _TIMESTAMP,
                    "automatic": {"type": "boolean", "description": "Disabled by the job (the System Admin), not by a person."},
                    "actor_id": {"type": ["integer", "null"]},
                    "actor_email": _NULLABLE_STRING,
                    "old_status": _NULLABLE_STRING,
                    "reason": _NULLABLE_STRING,
                    "last_activity": {"type": ["string", "null"], "format": "date-time"},
                    "days_inactive": {"type": ["integer", "null"]},
                    "warnings": {"type": "array", "items": {"type": "object"}},
                    "notices": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "runs": {"type": "array", "items": {"type": "object"}},
        "gaps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"from": _TIMESTAMP, "to": _TIMESTAMP, "hours": {"type": "integer"}},
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/auth/login": {
        "post": {
            "summary": "Log in through an enabled provider; opens a session.",
            "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("LoginRequest")}}},
            "responses": {
                "200": _json(_ref("TokenPair"), "Tokens tied to the new session."),
                "400": _error("Malformed body, or the provider is not enabled."),
                "401": _error("No account has this identity."),
                "403": _error("The account is INACTIVE or LOCKED."),
                "503": _error("Authentication is not configured on this server."),
            },
        }
    },
    "/auth/refresh": {
        "post": {
            "summary": "A new access token for the refresh token's session (send the refresh token).",
            "responses": {"200": _json(_ref("AccessToken"), "A new access token."), **_AUTH_ERRORS},
        }
    },
    "/auth/logout": {
        "post": {
            "summary": "End the token's session.",
            "responses": {"204": {"description": "The session has ended."}, **_AUTH_ERRORS},
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This description.",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document.", "content": {"application/json": {}}}},
        }
    },
    "/api/v1/health/disable-inactive-users": {
        "get": {
            "summary": "Whether the inactivity job's last successful real run is recent enough (for uptime probes).",
            "security": [],
            "parameters": [
                {
                    "name": "max_age",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "examples": ["2h", "90m", "1d"]},
                    "description": "How old the last successful real run may be (default 2h).",
                }
            ],
            "responses": {
                "200": _json(_ref("JobHealth"), "The last successful real run is recent enough."),
                "400": _error("A max_age that does not parse."),
                "503": _error(
                    "job_stale, job_never_succeeded or job_health_unavailable; the message says when the job last succeeded."
                ),
            },
        }
    },
    "/api/v1/users/me": {
        "get": {
            "summary": "The caller's own record (any authenticated user).",
            "responses": {"200": _json(_ref("User"), "The caller."), **_AUTH_ERRORS},
        }
    },
    "/api/v1/users/": {
        "get": {
            "summary": "All users, by id (user administrators only).",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": list(UserStatus.__members__)},
                },
                {
                    "name": "inactive_for_days",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Only users inactive for at least this many whole days.",
                },
            ],
            "responses": {
                "200": _json(_ref("UserList"), "The users."),
                "400": _error("Unknown query parameter, status or inactive_for_days."),
                **_ADMIN_ERRORS,
            },
        }
    },
    "/api/v1/users/inactive": {
        "get": {
            "summary": "Who the inactivity job would disable (user administrators only): the job's own preview.",
            "parameters": [
                {
                    "name": "days",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Threshold in days (default: the configured threshold, 60).",
                },
                {
                    "name": "as_of",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date-time"},
                    "description": "Preview at this instant (ISO 8601; UTC if no offset). Default: now.",
                },
            ],
            "responses": {
                "200": _json(_ref("InactiveUsers"), "The users due at as_of."),
                "400": _error("Unknown query parameter, or a bad days or as_of."),
                **_ADMIN_ERRORS,
            },
        }
    },
    "/api/v1/reports/deactivations": {
        "get": {
            "summary": "AC-2(3) evidence: deactivations, runs and schedule gaps in a period (user administrators only).",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "required": True,
                    "schema": _REPORT_BOUND,
                    "description": "First day, or a UTC instant (ISO 8601; UTC if no offset).",
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": True,
                    "schema": _REPORT_BOUND,
                    "description": "Last day, included; or an exclusive instant. At most 366 days after from.",
                },
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["json", "html"], "default": "json"},
                    "description": "json: the document `flask inactive-users-report --format json` prints, byte for byte; "
                    "html: one self-contained page for an assessor, served with a strict Content-Security-Policy.",
                },
                {
                    "name": "as_of",
                    "in": "query",
                    "required": False,
                    "schema": _REPORT_BOUND,
                    "description": "Report as of this past instant (default now); an HTML page's generated-at "
                    "time reproduces the JSON its digest was taken of.",
                },
            ],
            "responses": {
                "200": {
                    "description": "The evidence for the period.",
                    "content": {
                        "application/json": {"schema": _ref("DeactivationEvidence")},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
                "400": _error(
                    "A missing or bad from, to or as_of, an as_of in the future, an empty period, one longer than "
                    "366 days, an unknown format or an unknown parameter."
                ),
                **_ADMIN_ERRORS,
            },
        }
    },
    "/api/v1/users/{user_id}": {
        "get": {
            "summary": "One user (user administrators only).",
            "parameters": [_USER_ID],
            "responses": {
                "200": _json(_ref("User"), "The user."),
                "404": _error("No user has this id."),
                **_ADMIN_ERRORS,
            },
        },
        "patch": {
            "summary": "Change a user's status and/or profile (user administrators only).",
            "parameters": [_USER_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("UserPatch")}}},
            "responses": {
                "200": _json(_ref("User"), "The user after the change."),
                "400": _error("Malformed body, unknown field, bad value, or a refused status change."),
                "404": _error("No user has this id."),
                **_ADMIN_ERRORS,
            },
        },
    },
}


def spec() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OPS user administration API",
            "version": "1",
            "description": (
                "Sign-in, sessions and user administration. Errors always have the shape of "
                "#/components/schemas/Error."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
