"""The user administration routes (/api/v1/users): parse the request, call one service, render the result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify, request

from ops_api.api.auth import admin_only, current_user, json_object_body
from ops_api.api.errors import validation_error
from ops_api.audit import to_json_value
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.instants import parse_iso
from ops_api.models import User, UserStatus
from ops_api.services.user_deactivation import MAX_INACTIVE_DAYS, Inactivity, UserDeactivationService, check_as_of
from ops_api.services.users import PROFILE_FIELDS, get_user, list_users, update_user

bp = Blueprint("users", __name__, url_prefix="/users")

# What a PATCH body may hold: the profile fields, the status and the status change's reason.
PATCH_FIELDS = frozenset({*PROFILE_FIELDS, "status", "reason"})
LIST_FILTERS = frozenset({"status", "inactive_for_days"})
INACTIVE_QUERY = frozenset({"days", "as_of"})
_NAME_LENGTH = 255


def user_json(user: User, inactivity: Inactivity | None = None) -> dict[str, Any]:
    """A user as the API shows it; with ``inactivity``, where they stand against the inactivity rule."""
    shown = {
        "id": user.id,
        "oidc_id": to_json_value(user.oidc_id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.full_name,
        "status": user.status.name,
        "roles": user.role_names,
        "reactivated_on": to_json_value(user.reactivated_on),
        "created_on": to_json_value(user.created_on),
        "updated_on": to_json_value(user.updated_on),
    }
    if inactivity is not None:
        shown.update(inactivity.to_dict())
    return shown


def deactivation_service(days: int | None = None) -> UserDeactivationService:
    """The inactivity job's own service, so the screen and the job can never disagree."""
    return UserDeactivationService.from_config(db.session, current_app.config, inactive_days=days)


def with_inactivity(users: list[User]) -> list[dict[str, Any]]:
    inactivity = deactivation_service().inactivity_of(users)
    return [user_json(user, inactivity[user.id]) for user in users]


def _status(value: Any) -> UserStatus | None:
    return UserStatus.__members__.get(value) if isinstance(value, str) else None


_STATUS_CHOICES = "one of " + ", ".join(UserStatus.__members__)


@bp.get("/me")
def me() -> Response:
    """The caller's own record: the one route any authenticated user may call."""
    return jsonify(user_json(current_user()))


@bp.get("/")
@admin_only
def list_all() -> Response:
    fields = {key: ["unknown query parameter"] for key in sorted(set(request.args) - LIST_FILTERS)}
    status = None
    if "status" in request.args:
        status = _status(request.args["status"])
        if status is None:
            fields["status"] = [_STATUS_CHOICES]
    inactive_for_days = None
    if "inactive_for_days" in request.args:
        inactive_for_days = _whole_number(request.args["inactive_for_days"], minimum=0)
        if inactive_for_days is None:
            fields["inactive_for_days"] = [f"must be a whole number from 0 to {MAX_INACTIVE_DAYS}"]
    if fields:
        raise validation_error(fields)
    users = with_inactivity(list_users(db.session, actor=current_user(), status=status))
    if inactive_for_days is not None:
        users = [user for user in users if user["days_inactive"] >= inactive_for_days]
    return jsonify({"users": users})


@bp.get("/inactive")
@admin_only
def inactive() -> Response:
    """The job's own preview: who it would disable at ``as_of`` (default now) with ``days`` (default configured)."""
    fields = {key: ["unknown query parameter"] for key in sorted(set(request.args) - INACTIVE_QUERY)}
    days = None
    if "days" in request.args:
        days = _whole_number(request.args["days"], minimum=1)
        if days is None:
            fields["days"] = [f"must be a whole number from 1 to {MAX_INACTIVE_DAYS}"]
    as_of = None
    if "as_of" in request.args:
        as_of = _instant(request.args["as_of"])
        if as_of is None:
            fields["as_of"] = ["must be an ISO 8601 date or date-time (UTC if no offset) between 1970 and 9000"]
    if fields:
        raise validation_error(fields)
    service = deactivation_service(days)
    as_of = as_of or utcnow()
    candidates = service.find_inactive_users(as_of=as_of)
    return jsonify(
        {
            "as_of": as_of.isoformat(),
            "threshold_days": service.inactive_days,
            "users": [candidate.to_dict() for candidate in candidates],
        }
    )


@bp.get("/<int:user_id>")
@admin_only
def show(user_id: int) -> Response:
    (shown,) = with_inactivity([get_user(db.session, user_id, actor=current_user())])
    return jsonify(shown)


@bp.patch("/<int:user_id>")
@admin_only
def edit(user_id: int) -> Response:
    actor = current_user()
    profile, status, reason = _parse_patch(json_object_body())
    user = get_user(db.session, user_id, actor=actor)
    if reason is None and status is not None:
        reason = f"set to {status.name} by {actor.email} through the user admin API"
    update_user(db.session, user, actor=actor, profile=profile, status=status, reason=reason or "")
    db.session.commit()
    (shown,) = with_inactivity([user])
    return jsonify(shown)


def _parse_patch(body: Mapping[str, Any]) -> tuple[dict[str, Any], UserStatus | None, str | None]:
    """Check the body's shape and types; the service checks what the values mean."""
    fields: dict[str, list[str]] = {key: ["unknown field"] for key in sorted(set(body) - PATCH_FIELDS)}
    if not body:
        raise validation_error({}, "the body names nothing to change")

    status = None
    if "status" in body:
        status = _status(body["status"])
        if status is None:
            fields["status"] = [_STATUS_CHOICES]
    reason = body.get("reason")
    if "reason" in body:
        if "status" not in body:
            fields["reason"] = ["only used together with status"]
        elif not isinstance(reason, str) or not reason.strip():
            fields["reason"] = ["must be a non-empty string"]

    profile: dict[str, Any] = {}
    for key in ("first_name", "last_name"):
        if key in body:
            value = body[key]
            if value is not None and (not isinstance(value, str) or not value.strip()):
                fields[key] = ["must be a non-empty string or null"]
            elif isinstance(value, str) and len(value.strip()) > _NAME_LENGTH:
                fields[key] = [f"at most {_NAME_LENGTH} characters"]
            else:
                profile[key] = value.strip() if isinstance(value, str) else None
    if "email" in body:
        value = body["email"]
        if not isinstance(value, str) or not _looks_like_email(value.strip()):
            fields["email"] = ["must be an e-mail address"]
        elif len(value.strip()) > _NAME_LENGTH:
            fields["email"] = [f"at most {_NAME_LENGTH} characters"]
        else:
            profile["email"] = value.strip()
    if "roles" in body:
        value = body["roles"]
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            fields["roles"] = ["must be a list of role names"]
        else:
            profile["roles"] = value

    if fields:
        raise validation_error(fields)
    return profile, status, reason.strip() if isinstance(reason, str) else None


def _whole_number(value: str, *, minimum: int, maximum: int = MAX_INACTIVE_DAYS) -> int | None:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        return None
    return int(text)


def _instant(value: str) -> datetime | None:
    """An ISO 8601 date or instant (UTC if no offset) within the range previews accept, else None."""
    try:
        return check_as_of(parse_iso(value))
    except (ValueError, OverflowError):
        return None


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain.strip(".") and not any(c.isspace() for c in value))
