"""Sign-in routes (/auth) and the check every authenticated request passes.

A token carries the user's id (``sub``) and the id of its user_session row
(``sid``). The tokens themselves are not stored: the session row is the one
place that decides whether they still work, so ending the session (logout,
deactivation) stops every token issued for it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask_jwt_extended import create_access_token, create_refresh_token, get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException, NoAuthorizationError, WrongTokenError
from jwt import ExpiredSignatureError, PyJWTError

from ops_api.api.errors import ApiError, validation_error
from ops_api.api.schemas import LOGIN_BODIES, AccessTokenSchema, LoginSchema, TokenPairSchema, load
from ops_api.config import is_development_environment
from ops_api.extensions import db
from ops_api.services.users import User
from ops_api.services.users.accounts import require_user_admin
from ops_api.services.users.sign_in import (
    AccountNotActiveError,
    LoginFailure,
    LoginRequestError,
    ResumedSession,
    SessionEndedError,
    enabled_providers,
    log_in,
    log_out,
    resume_session,
)

bp = Blueprint("auth", __name__, url_prefix="/auth")

SESSION_CLAIM = "sid"

# How a refused login is answered: (status, code, message).
LOGIN_REFUSALS = {
    LoginFailure.UNKNOWN_USER: (401, "unknown_user", "no OPS account belongs to this identity"),
    LoginFailure.ACCOUNT_INACTIVE: (
        403,
        "account_inactive",
        "this account is disabled (INACTIVE); a user administrator can reactivate it",
    ),
    LoginFailure.ACCOUNT_LOCKED: (
        403,
        "account_locked",
        "this account is LOCKED; a user administrator can unlock it",
    ),
}


def require_auth_configured() -> None:
    """Without a signing secret the API can neither issue nor check tokens: answer 503."""
    if not current_app.config.get("JWT_SECRET_KEY"):
        raise ApiError(
            503,
            "auth_not_configured",
            "authentication is not configured on this server (OPS_JWT_SECRET_KEY is not set)",
        )


def json_object_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the parser goes: not a body this API takes
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the request body must be a JSON object")
    return body


def authenticate(*, refresh: bool = False) -> ResumedSession:
    """Check the bearer token, its session and its user; remember them in ``g`` for the view.

    Every refusal is a 401. A request with an access token counts as the
    user's activity (``last_active_at``, at most once a minute); that small
    write is committed at once, on its own, so it stands whatever the view
    then does.
    """
    require_auth_configured()
    try:
        verify_jwt_in_request(refresh=refresh)
    except ExpiredSignatureError:
        raise ApiError(401, "token_expired", "the token has expired") from None
    except NoAuthorizationError:
        raise ApiError(401, "unauthorized", "an 'Authorization: Bearer <token>' header is required") from None
    except WrongTokenError:
        kind = "an access" if refresh else "a refresh"
        raise ApiError(401, "unauthorized", f"{kind} token cannot be used here") from None
    except (JWTExtendedException, PyJWTError):
        raise ApiError(401, "unauthorized", "the token is not valid") from None

    claims = get_jwt()
    try:
        resumed = resume_session(
            db.session(),
            session_id=claims.get(SESSION_CLAIM),
            user_id=claims.get("sub"),
            mark_activity=not refresh,
        )
    except SessionEndedError as exc:
        raise ApiError(401, "session_ended", str(exc)) from None
    except AccountNotActiveError as exc:
        raise ApiError(401, "account_not_active", str(exc)) from None
    if resumed.touched:
        db.session.commit()
    g.current_user = resumed.user
    g.user_session = resumed.user_session
    return resumed


def current_user() -> User:
    return g.current_user


F = TypeVar("F", bound=Callable[..., Any])


def admin_only(view: F) -> F:
    """Refuse (403) callers who may not administer users, before the request is even read."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        require_user_admin(current_user())
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def _tokens(user_id: int, session_id: int, *, refresh: bool = True) -> dict[str, str]:
    """An access token (and a refresh token) for this user's session: shown through TokenPairSchema or AccessTokenSchema."""
    identity = str(user_id)
    claims = {SESSION_CLAIM: session_id}
    tokens = {"access_token": create_access_token(identity=identity, additional_claims=claims)}
    if refresh:
        tokens["refresh_token"] = create_refresh_token(identity=identity, additional_claims=claims)
    return tokens


@bp.post("/login")
def login() -> Response:
    require_auth_configured()
    body = json_object_body()
    name = load(LoginSchema(), body)["provider"]
    # Checked per request: FakeAuth needs its switch AND a development OPS_ENV_NAME.
    fakeauth = bool(current_app.config["FAKEAUTH_ENABLED"]) and is_development_environment(current_app.config)
    provider = enabled_providers(fakeauth_enabled=fakeauth).get(name)
    if provider is None:
        raise ApiError(
            400,
            "provider_not_enabled",
            f"the login provider {name!r} is not enabled on this server",
            {"provider": ["not enabled on this server"]},
        )
    load(LOGIN_BODIES[name](), body)  # that provider's own fields, as the OpenAPI document states them
    payload = {key: value for key, value in body.items() if key != "provider"}
    try:
        outcome = log_in(db.session(), provider, payload, ip_address=request.remote_addr)
    except LoginRequestError as exc:
        raise validation_error(exc.fields, str(exc)) from None
    db.session.commit()  # the LOGIN_ATTEMPT event stands whether the login succeeded or not
    if outcome.failure is not None:
        raise ApiError(*LOGIN_REFUSALS[outcome.failure])
    assert outcome.user is not None and outcome.user_session is not None
    return jsonify(TokenPairSchema().dump(_tokens(outcome.user.id, outcome.user_session.id)))


@bp.post("/refresh")
def refresh() -> Response:
    """A new access token for the same session, while it and its user are still good."""
    resumed = authenticate(refresh=True)
    return jsonify(AccessTokenSchema().dump(_tokens(resumed.user.id, resumed.user_session.id, refresh=False)))


@bp.post("/logout")
def logout() -> tuple[str, int]:
    resumed = authenticate()
    log_out(db.session(), resumed.user, resumed.user_session)
    db.session.commit()
    return "", 204
