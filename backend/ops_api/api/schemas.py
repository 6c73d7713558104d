"""The API's requests and answers as marshmallow schemas: one description for validation,
serialisation and the OpenAPI document (ops_api.api.openapi generates it from these classes).
Requests are loaded through them (``load``) and every answer is dumped through the schema that
documents it; the one error shape lives in ops_api.api.errors.

Every bound the server enforces is a validator here, so the served document states it:
string lengths, number ranges, enumerations, patterns, formats and list sizes. A field whose
JSON Schema apispec cannot infer (a date, a duration) states it in its ``json_schema``. A
request that breaks one is answered 400 ``validation_error`` with the problems per field.

The document may be stricter than the server, never looser: every request it admits is one
the server reads (the fuzz test checks this), while the server also reads a few forms people
type that the document leaves out (a date-time without an offset, surrounding blanks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ops_api.api.errors import validation_error
from ops_api.clock import utcnow
from ops_api.domain.defaults import JOB_NAME
from ops_api.instants import parse_iso
from ops_api.services.job.job_runs import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_AGE_TEXT,
    OUTCOME_DID_NOT_FINISH,
    OUTCOME_RUNNING,
    parse_duration,
)
from ops_api.services.report import OpsEventStatus
from ops_api.services.report.deactivation_report import MAX_RANGE, ReportRangeError, check_range, parse_bound
from ops_api.services.users import RoleName, UserStatus
from ops_api.services.users.sign_in import FakeAuthProvider
from ops_api.services.users.user_deactivation import EARLIEST_AS_OF, LATEST_AS_OF, MAX_INACTIVE_DAYS, RunOutcome, check_as_of

NAME_LENGTH = 255
REASON_LENGTH = 1000
# The largest id the integer primary keys can hold; a larger one names no user (404).
MAX_ID = 2**31 - 1
ROLE_NAMES = [role.value for role in RoleName]
FUTURE_AS_OF = "must not be in the future"


# --- Fields ---------------------------------------------------------------------

# Characters a stored string may not hold: NUL (PostgreSQL's text cannot). A lone surrogate cannot be
# stored either, but no JSON Schema pattern can say so portably; Text refuses both.
_STORABLE = r"[^\u0000]"
# Some character other than a blank, then anything storable: what "not blank" means once blanks are removed.
NOT_BLANK_PATTERN = rf"^{_STORABLE}*[^\s\u0000]{_STORABLE}*$"
# What the server takes for an e-mail address: something, '@', then a domain with a dot between two
# other characters; no blanks anywhere (the last '@' starts the domain).
_DOMAIN_CHARACTER, _DOMAIN_NOT_DOT = r"[^\s@\u0000]", r"[^\s@.\u0000]"
EMAIL_PATTERN = (
    rf"^[^\s\u0000]+@{_DOMAIN_CHARACTER}*{_DOMAIN_NOT_DOT}{_DOMAIN_CHARACTER}*\."
    rf"{_DOMAIN_CHARACTER}*{_DOMAIN_NOT_DOT}{_DOMAIN_CHARACTER}*$"
)
# The dates and instants the date parameters are documented to take: a day, or an RFC 3339 date-time
# with an upper-case T and Z and seconds below 60 (Python reads no lower-case t or z and no leap second),
# in the years 1970 to 8999: the preview's as_of must lie between EARLIEST_AS_OF and LATEST_AS_OF in UTC,
# so only an offset on the first or last of those days can still carry one outside (a refusal the
# document gives as an example). The server also reads other ISO 8601 forms (no offset means UTC).
_YEAR = r"(?:19[7-9][0-9]|[2-8][0-9]{3})"
INSTANT_PATTERN = (
    rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}"
    r"(?:T[0-9]{2}:[0-9]{2}:[0-5][0-9](?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}))?$"
)
INSTANT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": INSTANT_PATTERN,
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
}


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

    json_schema: ClassVar[dict[str, Any]] = INSTANT_SCHEMA
    default_error_messages = {
        "instant": "must be an ISO 8601 date or date-time (UTC if no offset)",
        "range": f"must lie between {EARLIEST_AS_OF.isoformat()} and {LATEST_AS_OF.isoformat()} (compared in UTC)",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        text = _text(self, value, attr, data, **kwargs)
        try:
            parsed = parse_iso(text)
        except ValueError:
            raise self.make_error("instant") from None
        try:
            return check_as_of(parsed)
        except (ValueError, OverflowError):
            raise self.make_error("range") from None


class ReportBound(fields.Field[datetime]):
    """A report's bound: a day (2026-03-01) or an ISO 8601 instant; ``end`` days mean the end of the day."""

    json_schema: ClassVar[dict[str, Any]] = INSTANT_SCHEMA

    def __init__(self, *, end: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        text = _text(self, value, attr, data, **kwargs)
        try:
            return parse_bound(text, end=self.end)
        except ReportRangeError as exc:
            raise ValidationError(str(exc)) from None


class Duration(fields.Field[timedelta]):
    """A duration like 90m, 2h or 1d: a whole number above 0 of at most seven digits, then s, m, h or d.

    The pattern and length say exactly what ``job_runs.parse_duration`` reads, less the blanks it allows.
    """

    PATTERN = re.compile(r"^0*[1-9][0-9]*[smhdSMHD]$")
    MAX_LENGTH = 8
    json_schema: ClassVar[dict[str, Any]] = {"type": "string", "pattern": PATTERN.pattern, "maxLength": MAX_LENGTH}
    default_error_messages = {
        "duration": "must be a duration like 90m, 2h or 1d: a whole number above 0 of at most 7 digits, "
        "then s, m, h or d"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> timedelta:
        text = _text(self, value, attr, data, **kwargs)
        if len(text) > self.MAX_LENGTH or not self.PATTERN.fullmatch(text):
            raise self.make_error("duration")
        return parse_duration(text)


class Seconds(fields.Integer):
    """A timedelta shown as its whole seconds."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> int | None:
        return None if value is None else int(value.total_seconds())


def _not_blank() -> validate.Regexp:
    return validate.Regexp(NOT_BLANK_PATTERN, error="must not be blank")


def _name(description: str) -> Text:
    return Text(
        allow_none=True,
        validate=[validate.Length(max=NAME_LENGTH), _not_blank()],
        metadata={"description": description + " Null clears it; blanks around it are removed."},
    )


# --- Requests -------------------------------------------------------------------


class StrictSchema(Schema):
    """A request part in which any name the schema does not list is refused."""

    error_messages = {"unknown": "unknown field"}
    # What no field can say about itself, for the OpenAPI document (the schema's own checks enforce it).
    json_schema: ClassVar[dict[str, Any]] = {}


class UserPatchSchema(StrictSchema):
    """Any of these fields (at least one); any other field is refused. A status change goes through
    the same service as the inactivity job: INACTIVE and LOCKED end every session of the user.
    Nobody may change their own status or roles, nor edit the System Admin."""

    json_schema = {"minProperties": 1, "dependentRequired": {"reason": ["status"]}}

    status = fields.Enum(UserStatus, metadata={"description": "The new status."})
    reason = Text(
        validate=[validate.Length(max=REASON_LENGTH), _not_blank()],
        metadata={"description": "Why the status changes (only together with status; default: who set it, and how)."},
    )
    first_name = _name("The first name.")
    last_name = _name("The last name.")
    email = Text(
        validate=[validate.Length(max=NAME_LENGTH), validate.Regexp(EMAIL_PATTERN, error="must be an e-mail address")],
        metadata={
            "format": "email",
            "description": "A unique e-mail address (compared without case): no blanks, and a dot inside the domain.",
        },
    )
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLE_NAMES)),
        validate=validate.Length(max=len(ROLE_NAMES)),
        metadata={"description": "The complete new list of role names (a name given twice counts once)."},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("the body names nothing to change")
        if "reason" in data and "status" not in data:
            raise ValidationError({"reason": ["only used together with status"]})


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
            "description": "Preview at this instant: a date (its midnight, UTC) or a date-time. It must lie between "
            f"{EARLIEST_AS_OF.isoformat()} and {LATEST_AS_OF.isoformat()} once converted to UTC. Default: now.",
            "example": "2026-03-01T09:00:00Z",
        }
    )


class DeactivationsQuery(StrictSchema):
    error_messages = {"unknown": "unknown query parameter"}

    from_ = ReportBound(
        data_key="from",
        required=True,
        error_messages={"required": "required: a date (2026-03-01) or an ISO 8601 instant"},
        metadata={"description": "First day (from its midnight, UTC), or an instant.", "example": "2026-03-01"},
    )
    to = ReportBound(
        end=True,
        required=True,
        error_messages={"required": "required: a date (2026-03-01) or an ISO 8601 instant"},
        metadata={
            "description": "Last day, included; or an exclusive instant. Later than from, and at most "
            f"{MAX_RANGE.days} days after it.",
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
            "description": "Report as of this instant, not in the future (default now); an HTML page's "
            "generated-at time reproduces the JSON its digest was taken of.",
            "example": "2026-04-01T00:00:00Z",
        }
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "as_of" in data and data["as_of"] > utcnow():
            raise ValidationError({"as_of": [FUTURE_AS_OF]})
        if "from_" in data and "to" in data:
            try:
                check_range(data["from_"], data["to"])
            except ReportRangeError as exc:
                raise ValidationError({"to": [str(exc)]}) from None


class HealthQuery(Schema):
    """The health probe's one parameter. Other names are ignored: a probe may add its own (a cache buster)."""

    max_age = Duration(
        load_default=DEFAULT_MAX_AGE,
        metadata={
            "description": "How old the last successful real run may be.",
            "default": DEFAULT_MAX_AGE_TEXT,
            "example": "90m",
        },
    )

    class Meta:
        unknown = EXCLUDE


class FakeAuthLoginSchema(StrictSchema):
    """FakeAuth, for development only: log in as the account with this oidc_id."""

    provider = fields.String(required=True, validate=validate.Equal(FakeAuthProvider.name))
    oidc_id = fields.UUID(required=True, metadata={"description": "The account to log in as."})


# Each login provider this server implements, by name, with the body it takes.
LOGIN_BODIES: dict[str, type[Schema]] = {FakeAuthProvider.name: FakeAuthLoginSchema}


class LoginSchema(Schema):
    """What every login body names first: a provider this server implements. The rest is that provider's own
    (``LOGIN_BODIES``), checked once the provider is known to be enabled."""

    provider = fields.String(
        required=True,
        validate=validate.OneOf(list(LOGIN_BODIES)),
        error_messages={"required": "required: the name of a login provider"},
    )

    class Meta:
        unknown = EXCLUDE


# --- Answers --------------------------------------------------------------------

_TIMESTAMP = "UTC, ISO 8601."
# What a run's outcome reads: how it ended, or that it is running or was killed before it could say.
_OUTCOMES = ", ".join([outcome.value for outcome in RunOutcome] + [OUTCOME_RUNNING, OUTCOME_DID_NOT_FINISH]) + "."


class TokenPairSchema(Schema):
    access_token = fields.String(required=True, metadata={"description": "Send as 'Authorization: Bearer <token>'."})
    refresh_token = fields.String(required=True, metadata={"description": "Send to /auth/refresh for a new access token."})


class AccessTokenSchema(Schema):
    access_token = fields.String(required=True, metadata={"description": "Send as 'Authorization: Bearer <token>'."})


class UserSchema(Schema):
    """A user as the API shows it to the user themself."""

    id = fields.Integer(required=True)
    oidc_id = fields.UUID(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    first_name = fields.String(required=True, allow_none=True)
    last_name = fields.String(required=True, allow_none=True)
    full_name = fields.String(required=True, metadata={"description": "First and last name; empty when neither is set."})
    status = fields.Enum(UserStatus, required=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLE_NAMES)), required=True, attribute="role_names")
    reactivated_on = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "When a person last made the account ACTIVE again."}
    )
    created_on = fields.DateTime(required=True, allow_none=True, metadata={"description": _TIMESTAMP})
    updated_on = fields.DateTime(required=True, allow_none=True, metadata={"description": _TIMESTAMP})


class ManagedUserSchema(UserSchema):
    """A user as the user administrators' views show it: the record, and where it stands against the
    inactivity rule. Dumps a (User, Inactivity) pair."""

    last_seen = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "Latest activity, reactivation or creation."}
    )
    days_inactive = fields.Integer(required=True, allow_none=True, metadata={"description": "Whole days since last_seen."})
    disable_due = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "When the inactivity job will disable the user if nothing changes; "
            "null for excluded and non-ACTIVE users."
        },
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        user, inactivity = obj
        return super().get_attribute(inactivity if attr in _INACTIVITY_FIELDS else user, attr, default)


_INACTIVITY_FIELDS = frozenset(ManagedUserSchema._declared_fields) - frozenset(UserSchema._declared_fields)


class UserListSchema(Schema):
    users = fields.List(fields.Nested(ManagedUserSchema), required=True, metadata={"description": "By id."})


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
    """A healthy job (the answer 200); an unhealthy one is answered in the error shape (503). Dumps a JobHealth."""

    job = fields.Constant(JOB_NAME, required=True, metadata={"type": "string", "enum": [JOB_NAME]})
    healthy = fields.Boolean(required=True, validate=validate.Equal(True))
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    checked_at = fields.DateTime(required=True)
    max_age_seconds = Seconds(required=True, attribute="max_age")
    last_success_at = fields.DateTime(required=True, allow_none=True)
    age_seconds = Seconds(required=True, allow_none=True, attribute="age")
    last_run_at = fields.DateTime(required=True, allow_none=True)
    last_run_outcome = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": _OUTCOMES},
    )
    evidence_chain = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The chain of the job's run and e-mail records over the last month, in one line: "
                  "\"chain intact from job_run 1 (...) to email_record 9 (...), 12 records, signed\"."},
    )


# The evidence report's JSON is written by DeactivationEvidence.to_json, whose bytes its SHA-256 digest
# covers; these schemas document it, and a test validates the real JSON against them.


def _event_status() -> fields.Enum:
    return fields.Enum(OpsEventStatus, required=True)


class NoticeSchema(Schema):
    sent_at = fields.DateTime(required=True)
    status = _event_status()
    recipient = fields.String(required=True, allow_none=True)
    period = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "The last activity the message was about."}
    )


class WarningSchema(NoticeSchema):
    stage = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Days before the deactivation was due."}
    )


class DeactivationSchema(Schema):
    event_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    disabled_at = fields.DateTime(required=True)
    automatic = fields.Boolean(
        required=True, metadata={"description": "Disabled by the job (the System Admin), not by a person."}
    )
    actor_id = fields.Integer(required=True, allow_none=True)
    actor_email = fields.String(required=True, allow_none=True)
    old_status = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    last_activity = fields.DateTime(required=True, allow_none=True)
    days_inactive = fields.Integer(required=True, allow_none=True)
    warnings = fields.List(
        fields.Nested(WarningSchema),
        required=True,
        metadata={"description": "Warnings sent in the threshold's span before the deactivation."},
    )
    notices = fields.List(
        fields.Nested(NoticeSchema), required=True, metadata={"description": "Notices sent in the week after it."}
    )


class RunSchema(Schema):
    run_id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    status = _event_status()
    outcome = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": _OUTCOMES},
    )
    dry_run = fields.Boolean(required=True)
    candidates = fields.Integer(required=True, allow_none=True)
    disabled = fields.Integer(required=True, allow_none=True)
    failed = fields.Integer(required=True, allow_none=True)
    skipped_reason = fields.String(required=True, allow_none=True)


class GapSchema(Schema):
    from_ = fields.DateTime(data_key="from", required=True)
    to = fields.DateTime(required=True)
    hours = fields.Integer(required=True)


class HourInProgressSchema(Schema):
    from_ = fields.DateTime(data_key="from", required=True)
    to = fields.DateTime(required=True)
    with_a_real_run = fields.Boolean(required=True)


class UnreadableSchema(Schema):
    table = fields.String(required=True)
    id = fields.Integer(required=True)
    problem = fields.String(required=True)


class EvidenceSummarySchema(Schema):
    deactivations = fields.Integer(required=True)
    automatic = fields.Integer(required=True)
    manual = fields.Integer(required=True)
    real_runs_by_outcome = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    dry_runs = fields.Integer(required=True)
    hours = fields.Integer(required=True, metadata={"description": "Whole hours of the period that had ended."})
    hours_with_a_real_run = fields.Integer(required=True)
    hours_without_a_real_run = fields.Integer(
        required=True, metadata={"description": "Gap hours: after the job's first real run, with no real run finished."}
    )
    hours_before_first_run = fields.Integer(
        required=True, metadata={"description": "Hours before the job's first real run ever recorded: not deployed yet, no gap."}
    )
    first_real_run_at = fields.DateTime(required=True, allow_none=True)
    hour_in_progress = fields.Nested(
        HourInProgressSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The unfinished hour the report was made in, if in the period: neither covered nor a gap."},
    )
    unreadable_records = fields.Integer(
        required=True, metadata={"description": "Stored rows the report could not read; listed under unreadable."}
    )


class ChainEndSchema(Schema):
    table = fields.String(required=True, validate=validate.OneOf(["job_run", "email_record"]))
    record_id = fields.Integer(required=True)
    position = fields.Integer(required=True, metadata={"description": "The record's place in the chain: 1, 2, 3, ..."})
    at = fields.DateTime(required=True)


class ChainBreakSchema(Schema):
    what = fields.String(required=True, validate=validate.OneOf(["deleted", "edited", "inserted"]))
    table = fields.String(required=True, metadata={"description": "job_run, email_record or ops_event (empty: unknown)."})
    record_id = fields.Integer(required=True, allow_none=True)
    position = fields.Integer(required=True, allow_none=True)
    detail = fields.String(required=True)


class EvidenceChainSchema(Schema):
    """The signed chain of the job's run and e-mail records over the period, with the record just before and after it."""

    status = fields.String(required=True, validate=validate.OneOf(["intact", "broken", "empty"]))
    signing = fields.String(required=True, validate=validate.OneOf(["signed", "unsigned", "partly signed", "none"]))
    records = fields.Integer(required=True, metadata={"description": "Chained records written in the period."})
    first = fields.Nested(ChainEndSchema, required=True, allow_none=True)
    last = fields.Nested(ChainEndSchema, required=True, allow_none=True)
    before_chain = fields.Integer(required=True, metadata={"description": "Records of the period older than the chain."})
    breaks = fields.List(fields.Nested(ChainBreakSchema), required=True)
    description = fields.String(required=True)


class DeactivationEvidenceSchema(Schema):
    """AC-2(3) evidence for [from, to): every deactivation (automatic and manual) with its actor, reason,
    last activity, warnings and notices; every run-summary event; and the whole hours without a real run."""

    from_ = fields.DateTime(data_key="from", required=True)
    to = fields.DateTime(required=True)
    generated_at = fields.DateTime(required=True)
    threshold_days = fields.Integer(required=True)
    summary = fields.Nested(EvidenceSummarySchema, required=True)
    deactivations = fields.List(fields.Nested(DeactivationSchema), required=True)
    runs = fields.List(fields.Nested(RunSchema), required=True)
    gaps = fields.List(fields.Nested(GapSchema), required=True)
    unreadable = fields.List(
        fields.Nested(UnreadableSchema),
        required=True,
        metadata={"description": "Rows the report could not read (wrong types, missing keys): never taken for absent."},
    )
    evidence_chain = fields.Nested(EvidenceChainSchema, required=True, allow_none=True)


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
