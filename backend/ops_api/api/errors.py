"""Every error the API answers has one JSON shape, and no stack trace ever leaves the server:

    {"error": {"code": "not_found", "message": "no user has id 7", "fields": {}}}

``code`` is a stable machine-readable word, ``message`` is for people, and
``fields`` maps each bad request field to a list of problems (empty when the
error is not about fields). Domain errors raised by the services are
translated to HTTP here, once. Every error rolls back the request's
unfinished database work, so a refused request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import Flask, Response, current_app, jsonify, request
from flask_jwt_extended import JWTManager
from marshmallow import Schema, fields
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ops_api.extensions import db
from ops_api.services.users.accounts import (
    InvalidProfileChangeError,
    InvalidStatusChangeError,
    NotAuthorizedError,
    UserNotFoundError,
)

# The codes of plain HTTP errors; any other status uses its name in snake_case.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetailSchema(Schema):
    code = fields.String(
        required=True,
        metadata={
            "description": "Stable and machine-readable: bad_request, validation_error, unauthorized, token_expired, "
            "session_ended, account_not_active, forbidden, not_found, method_not_allowed, conflict, "
            "payload_too_large, invalid_status_change, unknown_user, account_inactive, account_locked, "
            "provider_not_enabled, auth_not_configured, job_stale, job_never_succeeded, job_health_unavailable, "
            "internal_error; any other HTTP error is named after its status (e.g. unsupported_media_type). "
            "Each answer of each operation says which of these it carries.",
            "example": "validation_error",
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


_ERROR = ErrorSchema()


class ApiError(Exception):
    """An answer other than success, raised by a view and rendered by the handlers below."""

    def __init__(
        self, status: int, code: str, message: str, fields: Mapping[str, list[str]] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


def validation_error(fields: Mapping[str, list[str]], message: str = "the request is not valid") -> ApiError:
    return ApiError(400, "validation_error", message, fields)


def error_response(status: int, code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> Response:
    """An answer in the one error shape, dumped through ErrorSchema."""
    response = jsonify(_ERROR.dump({"error": {"code": code, "message": message, "fields_": dict(fields or {})}}))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _rollback() -> None:
    # Whatever the request had flushed is abandoned: a refused request changes nothing.
    db.session.rollback()


def _api_error(exc: ApiError) -> Response:
    _rollback()
    return error_response(exc.status, exc.code, exc.message, exc.fields)


def _http_error(exc: HTTPException) -> Response:
    _rollback()
    status = exc.code or 500
    code = _HTTP_CODES.get(status) or re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_")
    response = error_response(status, code, exc.description or exc.name or "error")
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response


# PostgreSQL's answers when a row lock is not granted in time, or two transactions wait on each other.
_LOCK_CONFLICTS = frozenset({"55P03", "40P01"})


def _sqlstate(exc: DBAPIError) -> str | None:
    # psycopg 3 names it sqlstate, psycopg2 pgcode.
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _database_error(exc: DBAPIError) -> Response:
    if isinstance(exc, OperationalError) and _sqlstate(exc) in _LOCK_CONFLICTS:
        _rollback()
        current_app.logger.warning("lock conflict on %s %s: %s", request.method, request.path, _sqlstate(exc))
        return error_response(
            409, "conflict", "another request is changing the same users; nothing was changed, try again"
        )
    return _unexpected(exc)


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    _rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(
        NotAuthorizedError, lambda exc: _api_error(ApiError(403, "forbidden", str(exc)))
    )
    app.register_error_handler(
        InvalidStatusChangeError, lambda exc: _api_error(ApiError(400, "invalid_status_change", str(exc)))
    )
    app.register_error_handler(
        InvalidProfileChangeError, lambda exc: _api_error(validation_error(exc.fields, str(exc)))
    )
    app.register_error_handler(UserNotFoundError, lambda exc: _api_error(ApiError(404, "not_found", str(exc))))
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _unexpected)


def configure_jwt_errors(jwt: JWTManager) -> None:
    """Give flask-jwt-extended's own refusals the same shape (the API translates them first; this is a net)."""

    def invalid(*_: object) -> Response:
        return error_response(401, "unauthorized", "the token is not valid")

    jwt.unauthorized_loader(lambda reason: error_response(401, "unauthorized", "a bearer token is required"))
    jwt.invalid_token_loader(invalid)
    jwt.expired_token_loader(lambda header, payload: error_response(401, "token_expired", "the token has expired"))
    jwt.revoked_token_loader(lambda header, payload: invalid())
    jwt.needs_fresh_token_loader(lambda header, payload: invalid())
    jwt.token_verification_failed_loader(lambda header, payload: invalid())
    jwt.user_lookup_error_loader(lambda header, payload: invalid())
