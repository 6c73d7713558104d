"""The user administration routes (/api/v1/users): parse the request, call one service, render the result."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from ops_api.api.auth import admin_only, current_user, json_object_body
from ops_api.api.schemas import (
    MAX_ID,
    InactiveQuery,
    InactiveUsersSchema,
    UserListQuery,
    UserPatchSchema,
    UserSchema,
    load,
    query_args,
)
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.models import User
from ops_api.services.user_deactivation import Inactivity, UserDeactivationService
from ops_api.services.users import PROFILE_FIELDS, UserNotFoundError, get_user, list_users, update_user

bp = Blueprint("users", __name__, url_prefix="/users")

_USER = UserSchema(exclude=("last_seen", "days_inactive", "disable_due"))
_INACTIVITY = UserSchema(only=("last_seen", "days_inactive", "disable_due"))


def user_json(user: User, inactivity: Inactivity | None = None) -> dict[str, Any]:
    """A user as the API shows it (UserSchema); with ``inactivity``, where they stand against the rule."""
    shown = _USER.dump(user)
    if inactivity is not None:
        shown.update(_INACTIVITY.dump(inactivity))
    return shown


def deactivation_service(days: int | None = None) -> UserDeactivationService:
    """The inactivity job's own service, so the screen and the job can never disagree."""
    return UserDeactivationService.from_config(db.session(), current_app.config, inactive_days=days)


def with_inactivity(users: list[User]) -> list[dict[str, Any]]:
    inactivity = deactivation_service().inactivity_of(users)
    return [user_json(user, inactivity[user.id]) for user in users]


@bp.get("/me")
def me() -> Response:
    """The caller's own record: the one route any authenticated user may call."""
    return jsonify(user_json(current_user()))


@bp.get("/")
@admin_only
def list_all() -> Response:
    query = load(UserListQuery(), query_args())
    users = with_inactivity(list_users(db.session(), actor=current_user(), status=query.get("status")))
    if "inactive_for_days" in query:
        users = [user for user in users if (user["days_inactive"] or 0) >= query["inactive_for_days"]]
    return jsonify({"users": users})  # each one already shown through UserSchema


@bp.get("/inactive")
@admin_only
def inactive() -> Response:
    """The job's own preview: who it would disable at ``as_of`` (default now) with ``days`` (default configured)."""
    query = load(InactiveQuery(), query_args())
    service = deactivation_service(query.get("days"))
    as_of = query.get("as_of") or utcnow()
    candidates = service.find_inactive_users(as_of=as_of)
    return jsonify(
        InactiveUsersSchema().dump({"as_of": as_of, "threshold_days": service.inactive_days, "users": candidates})
    )


def _user(user_id: int) -> User:
    """The user with this id; one beyond the integer column's range names nobody (404, the database is not asked)."""
    if user_id > MAX_ID:
        raise UserNotFoundError(f"no user has id {user_id}")
    return get_user(db.session(), user_id, actor=current_user())


@bp.get("/<int:user_id>")
@admin_only
def show(user_id: int) -> Response:
    (shown,) = with_inactivity([_user(user_id)])
    return jsonify(shown)


@bp.patch("/<int:user_id>")
@admin_only
def edit(user_id: int) -> Response:
    actor = current_user()
    changes = load(UserPatchSchema(), json_object_body())
    status = changes.pop("status", None)
    reason = changes.pop("reason", None)
    profile = {key: changes[key] for key in PROFILE_FIELDS if key in changes}
    user = _user(user_id)
    if reason is None and status is not None:
        reason = f"set to {status.name} by {actor.email} through the user admin API"
    update_user(db.session(), user, actor=actor, profile=profile, status=status, reason=reason or "")
    db.session.commit()
    (shown,) = with_inactivity([user])
    return jsonify(shown)
