"""The user administration routes (/api/v1/users): parse the request, call one service, render the result."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ops_api.api.auth import admin_only, current_user, json_object_body
from ops_api.api.schemas import (
    MAX_ID,
    InactiveQuery,
    InactiveUsersSchema,
    ManagedUserSchema,
    UserListQuery,
    UserListSchema,
    UserPatchSchema,
    UserSchema,
    load,
    query_args,
)
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.services.users import User
from ops_api.services.users.accounts import PROFILE_FIELDS, UserNotFoundError, find_user, get_user, list_users, update_user
from ops_api.services.users.user_deactivation import Inactivity, UserDeactivationService

bp = Blueprint("users", __name__, url_prefix="/users")

# The list's address before it lost its trailing slash: it still answers, the same as the list, and is
# left out of the OpenAPI document (clients written against it keep working; no redirect, which a
# client would have to follow with its token).
LIST_ALIAS = "/api/v1/users/"


def deactivation_service(days: int | None = None) -> UserDeactivationService:
    """The inactivity job's own service, so the screen and the job can never disagree."""
    return UserDeactivationService.from_config(db.session(), current_app.config, inactive_days=days)


def with_inactivity(users: list[User]) -> list[tuple[User, Inactivity]]:
    """Each user with where they stand against the rule: what ManagedUserSchema shows."""
    inactivity = deactivation_service().inactivity_of(users)
    return [(user, inactivity[user.id]) for user in users]


@bp.get("/me")
def me() -> Response:
    """The caller's own record: the one route any authenticated user may call."""
    return jsonify(UserSchema().dump(current_user()))


@bp.get("")
@bp.get("/")
@admin_only
def list_all() -> Response:
    query = load(UserListQuery(), query_args())
    users = with_inactivity(list_users(db.session(), actor=current_user(), status=query.get("status")))
    if "inactive_for_days" in query:
        users = [(user, standing) for user, standing in users if (standing.days_inactive or 0) >= query["inactive_for_days"]]
    return jsonify(UserListSchema().dump({"users": users}))


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


def _user(user_id: int, *, to_change: bool = False) -> User:
    """The user with this id; one beyond the integer column's range names nobody (404, the database is not asked).

    For a change, the service checks the caller's authority itself, under the lock.
    """
    if user_id > MAX_ID:
        raise UserNotFoundError(f"no user has id {user_id}")
    if to_change:
        return find_user(db.session(), user_id)
    return get_user(db.session(), user_id, actor=current_user())


@bp.get("/<int:user_id>")
@admin_only
def show(user_id: int) -> Response:
    (shown,) = with_inactivity([_user(user_id)])
    return jsonify(ManagedUserSchema().dump(shown))


@bp.patch("/<int:user_id>")
@admin_only
def edit(user_id: int) -> Response:
    actor = current_user()
    changes = load(UserPatchSchema(), json_object_body())
    status = changes.pop("status", None)
    reason = changes.pop("reason", None)
    profile = {key: changes[key] for key in PROFILE_FIELDS if key in changes}
    user = _user(user_id, to_change=True)
    if reason is None and status is not None:
        reason = f"set to {status.name} by {actor.email} through the user admin API"
    update_user(db.session(), user, actor=actor, profile=profile, status=status, reason=reason or "")
    db.session.commit()
    (shown,) = with_inactivity([user])
    return jsonify(ManagedUserSchema().dump(shown))
