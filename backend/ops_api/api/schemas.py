"""The API's requests and answers as marshmallow schemas: one description for validation,
serialisation and the OpenAPI document (ops_api.api.openapi generates it from these classes).

Every bound the server enforces is a validator here, so the served document states it:
string lengths, number ranges, enumerations, formats and list sizes. A request that breaks
one is answered 400 ``validation_error`` with the problems per field (see ``load``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import request
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ops_api.api.errors import validation_error
from ops_api.clock import utcnow
from ops_api.instants import parse_iso
from ops_api.models import RoleName, UserStatus
from ops_api.services.deactivation_report import MAX_RANGE, ReportRangeError, check_range, parse_bound
from ops_api.services.user_deactivation import EARLIEST_AS_OF, LATEST_AS_OF, MAX_INACTIVE_DAYS, check_as_of

NAME_LENGTH = 255
REASON_LENGTH = 1000
# The largest id the integer primary keys can hold; a larger one names no user (404).
MAX_ID = 2**31 - 1
ROLE_NAMES = [role.value for role in RoleName]


# --- Fields ---------------------------------------------------------------------


class Text(fields.String):
    """A string that is stored: surrounding blanks removed, no NUL and no lone surrogate (neither can be stored)."""

    default_error_messages = {"unstorable": "must not contain NUL characters or unpaired surrogates"}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("unstorable")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("unstorable") from None
        return text.strip()


class WholeNumber(fields.Integer):
    """A whole number written with ASCII digits only (a query parameter): no sign, no '_', no '1.0'."""

    default_error_messages = {"invalid": "must be a whole number, in digits"}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int:
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise self.make_error("invalid")
        return super()._deserialize(text, attr, data, **kwargs)


def _text(field: fields.Field[Any], value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
    """The value as a string field reads it (its type and character checks), before it is parsed."""
    return fields.String(error_messages=field.error_messages)._deserialize(value, attr, data, **kwargs)


class Instant(fields.Field[datetime]):
    """An ISO 8601 date or date-time (UTC if no offset) between EARLIEST_AS_OF and LATEST_AS_OF."""

    default_error_messages = {
        "instant": f"must be an ISO 8601 date or date-time (UTC if no offset) between "
        f"{EARLIEST_AS_OF:%Y} and {LATEST_AS_OF:%Y}"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        text = _text(self, value, attr, data, **kwargs)
        try:
            return check_as_of(parse_iso(text))
        except (ValueError, OverflowError):
            raise self.make_error("instant") from None


class ReportBound(fields.Field[datetime]):
    """A report's bound: a day (2026-03-01) or an ISO 8601 instant; ``end`` days mean the end of the day."""

    def __init__(self, *, end: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        text = _text(self, value, attr, data, **kwargs)
        try:
            return parse_bound(text, end=self.end)
        except ReportRangeError as exc:
            raise ValidationError(str(exc)) from None


def _name(description: str) -> Text:
    return Text(
        allow_none=True,
        validate=[validate.Length(max=NAME_LENGTH), validate.Regexp(r"\S", error="must not be blank")],
        metadata={"description": description + " Null clears it; blanks around it are removed."},
    )


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and not any(c.isspace() for c in value))


# --- Requests -------------------------------------------------------------------


class StrictSchema(Schema):
    """A request part in which any name the schema does not list is refused."""

    error_messages = {"unknown": "unknown field"}


class UserPatchSchema(StrictSchema):
    """Any of these fields (at least one); any other field is refused. A status change goes through
    the same service as the inactivity job: INACTIVE and LOCKED end every session of the user.
    Nobody may change their own status or roles, nor edit the System Admin."""

    status = fields.Enum(UserStatus, metadata={"description": "The new status."})
    reason = Text(
        validate=[validate.Length(max=REASON_LENGTH), validate.Regexp(r"\S", error="must not be blank")],
        metadata={"description": "Why the status changes (only together with status)."},
    )
    first_name = _name("The first name.")
    last_name = _name("The last name.")
    email = Text(
        validate=validate.Length(max=NAME_LENGTH),
        metadata={"format": "email", "description": "A unique e-mail address (compared without case)."},
    )
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_NAMES)),
        validate=validate.Length(max=len(ROLE_NAMES)),
        metadata={"description": "The complete new list of role names."},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("the body names nothing to change")
        problems: dict[str, list[str]] = {}
        if "reason" in data and "status" not in data:
            problems["reason"] = ["only used together with status"]
        if "email" in data and not _looks_like_email(data["email"]):
            problems["email"] = ["must be an e-mail address"]
        if problems:
            raise ValidationError(problems)


class UserListQuery(StrictSchema):
    error_messages = {"unknown": "unknown query parameter"}

    status = fields.Enum(UserStatus, metadata={"description": "Only users with this status."})
    inactive_for_days = WholeNumber(
        validate=validate.Range(min=0, max=MAX_INACTIVE_DAYS),
        metadata={"description": "Only users inactive for at least this many whole days."},
    )


class InactiveQuery(StrictSchema):
    error_messages = {"unknown": "unknown query parameter"}

    days = WholeNumber(
        validate=validate.Range(min=1, max=MAX_INACTIVE_DAYS),
        metadata={"description": "Threshold in days (default: the configured threshold, 60)."},
    )
    as_of = Instant(
        metadata={
            "format": "date-time",
            "description": f"Preview at this instant (ISO 8601; UTC if no offset; {EARLIEST_AS_OF:%Y} to "
            f"{LATEST_AS_OF:%Y}). Default: now.",
        }
    )


class DeactivationsQuery(StrictSchema):
    error_messages = {"unknown": "unknown query parameter"}

    from_ = ReportBound(
        data_key="from",
        required=True,
        error_messages={"required": "required: a date (2026-03-01) or an ISO 8601 instant"},
        metadata={"description": "First day, or a UTC instant (ISO 8601; UTC if no offset).", "example": "2026-03-01"},
    )
    to = ReportBound(
        end=True,
        required=True,
        error_messages={"required": "required: a date (2026-03-01) or an ISO 8601 instant"},
        metadata={
            "description": f"Last day, included; or an exclusive instant. At most {MAX_RANGE.days} days after from.",
            "example": "2026-03-31",
        },
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "html"]),
        metadata={
            "description": "json: the document `flask inactive-users-report --format json` prints, byte for byte; "
            "html: one self-contained page for an assessor, served with a strict Content-Security-Policy."
        },
    )
    as_of = ReportBound(
        metadata={
            "description": "Report as of this past instant (default now); an HTML page's generated-at time "
            "reproduces the JSON its digest was taken of."
        }
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "as_of" in data and data["as_of"] > utcnow():
            raise ValidationError({"as_of": ["must not be in the future"]})
        if "from_" in data and "to" in data:
            try:
                check_range(data["from_"], data["to"])
            except ReportRangeError as exc:
                raise ValidationError({"to": [str(exc)]}) from None


class LoginSchema(Schema):
    """The provider's name and that provider's own fields. FakeAuth reads only oidc_id."""

    provider = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        error_messages={"required": "required: the name of a login provider"},
        metadata={"example": "fakeauth"},
    )
    oidc_id = fields.UUID(metadata={"description": "FakeAuth: the account to log in as."})

    class Meta:
        unknown = INCLUDE


# --- Answers --------------------------------------------------------------------

_TIMESTAMP = "UTC, ISO 8601."


class ErrorDetailSchema(Schema):
    code = fields.String(
        required=True,
        metadata={
            "description": "Stable and machine-readable, e.g. bad_request, validation_error, unauthorized, "
            "token_expired, session_ended, account_not_active, forbidden, not_found, method_not_allowed, "
            "conflict, payload_too_large, invalid_status_change, unknown_user, account_inactive, "
            "account_locked, provider_not_enabled, auth_not_configured, internal_error."
        },
    )
    message = fields.String(required=True, metadata={"description": "For people; never a stack trace."})
    fields_ = fields.Dict(
        data_key="fields",
        required=True,
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Each request field in error, with its problems; empty otherwise."},
    )


class ErrorSchema(Schema):
    """The one shape of every error answer."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)


class AccessTokenSchema(Schema):
    access_token = fields.String(required=True)


class UserSchema(Schema):
    """A user as the API shows it; admin views add where the user stands against the inactivity rule."""

    id = fields.Integer(required=True)
    oidc_id = fields.UUID(allow_none=True)
    email = fields.String(required=True, allow_none=True)
    first_name = fields.String(required=True, allow_none=True)
    last_name = fields.String(required=True, allow_none=True)
    full_name = fields.String()
    status = fields.Enum(UserStatus, required=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLE_NAMES)), required=True, attribute="role_names")
    reactivated_on = fields.DateTime(allow_none=True, metadata={"description": _TIMESTAMP})
    created_on = fields.DateTime(metadata={"description": _TIMESTAMP})
    updated_on = fields.DateTime(metadata={"description": _TIMESTAMP})
    last_seen = fields.DateTime(
        allow_none=True, metadata={"description": "Latest activity, reactivation or creation (admin views)."}
    )
    days_inactive = fields.Integer(
        allow_none=True, metadata={"description": "Whole days since last_seen (admin views)."}
    )
    disable_due = fields.DateTime(
        allow_none=True,
        metadata={
            "description": "When the inactivity job will disable the user if nothing changes (admin views); "
            "null for excluded and non-ACTIVE users."
        },
    )


class UserListSchema(Schema):
    users = fields.List(fields.Nested(UserSchema), required=True)


class InactiveUserSchema(Schema):
    user_id = fields.Integer(required=True)
    email = fields.String(required=True, allow_none=True)
    last_seen = fields.DateTime(required=True)
    days_inactive = fields.Integer(required=True)


class InactiveUsersSchema(Schema):
    as_of = fields.DateTime(required=True)
    threshold_days = fields.Integer(required=True)
    users = fields.List(
        fields.Nested(InactiveUserSchema),
        required=True,
        metadata={"description": "The users the job would disable at as_of, longest inactive first."},
    )


class JobHealthSchema(Schema):
    job = fields.String(required=True, metadata={"example": "disable-inactive-users"})
    healthy = fields.Boolean(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    checked_at = fields.DateTime(required=True)
    max_age_seconds = fields.Integer(required=True)
    last_success_at = fields.DateTime(allow_none=True)
    age_seconds = fields.Integer(allow_none=True)
    last_run_at = fields.DateTime(allow_none=True)
    last_run_outcome = fields.String(allow_none=True)


class DeactivationSchema(Schema):
    event_id = fields.Integer()
    user_id = fields.Integer()
    email = fields.String(allow_none=True)
    disabled_at = fields.DateTime()
    automatic = fields.Boolean(metadata={"description": "Disabled by the job (the System Admin), not by a person."})
    actor_id = fields.Integer(allow_none=True)
    actor_email = fields.String(allow_none=True)
    old_status = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    last_activity = fields.DateTime(allow_none=True)
    days_inactive = fields.Integer(allow_none=True)
    warnings = fields.List(fields.Dict())
    notices = fields.List(fields.Dict())


class GapSchema(Schema):
    from_ = fields.DateTime(data_key="from")
    to = fields.DateTime()
    hours = fields.Integer()


class DeactivationEvidenceSchema(Schema):
    """AC-2(3) evidence for [from, to): every deactivation (automatic and manual) with its actor, reason,
    last activity, warnings and notices; every run-summary event; and the whole hours without a real run."""

    from_ = fields.DateTime(data_key="from", required=True)
    to = fields.DateTime(required=True)
    generated_at = fields.DateTime(required=True)
    threshold_days = fields.Integer(required=True)
    summary = fields.Dict(
        required=True,
        metadata={"description": "Counts: deactivations, automatic, manual, runs by outcome, hours with and without a real run."},
    )
    deactivations = fields.List(fields.Nested(DeactivationSchema), required=True)
    runs = fields.List(fields.Dict(), required=True)
    gaps = fields.List(fields.Nested(GapSchema), required=True)


# --- Loading --------------------------------------------------------------------


def _messages(value: Any, prefix: str = "") -> list[str]:
    """marshmallow's messages for one field as a flat list (list items become 'item 2: ...')."""
    if isinstance(value, str):
        return [prefix + _lower_first(value)]
    if isinstance(value, Mapping):
        return [m for key, inner in value.items() for m in _messages(inner, f"{prefix}item {key}: ")]
    return [m for inner in value for m in _messages(inner, prefix)]


def _lower_first(text: str) -> str:
    """marshmallow's "Must be one of: A, B." in this API's style: "must be one of: A, B"."""
    if text[:1].isupper() and not text[1:2].isupper():
        return text[:1].lower() + text[1:].rstrip(".")
    return text


def load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` checked and converted by ``schema``, or ApiError 400 validation_error naming each bad field."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, Mapping) else {"_schema": exc.messages}
        general = _messages(messages.get("_schema", []))
        problems = {
            key: _messages(value)
            for key, value in sorted(messages.items())
            if key != "_schema"
        }
        raise validation_error(problems, general[0] if general and not problems else "the request is not valid") from None


def query_args() -> dict[str, Any]:
    """The query string as a mapping of single values (a repeated name keeps its first value)."""
    return {key: request.args[key] for key in request.args}
