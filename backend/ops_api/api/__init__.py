"""The HTTP API: /auth for sign-in, /api/v1 for everything else, and the job's health check.

Every /api/v1 route except the OpenAPI description and the health check
requires a valid access token whose session is still active and whose user is
ACTIVE.

An entry point: views parse the request, call one service and render its
result. May import services, the API's own schemas and the shared helpers;
never a model (a service hands back what a view renders) and never an adapter.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request

from ops_api.api import auth, health, reports, users
from ops_api.api.errors import configure_jwt_errors, register_error_handlers
from ops_api.api.openapi import spec
from ops_api.extensions import jwt

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
api_v1.register_blueprint(users.bp)
api_v1.register_blueprint(reports.bp)

# Endpoints under /api/v1 that answer without a token.
PUBLIC_ENDPOINTS = frozenset({"api_v1.openapi"})


@api_v1.before_request
def _authenticate() -> None:
    # OPTIONS is answered by Flask itself (the Allow header) and runs no view: no token needed.
    if request.endpoint not in PUBLIC_ENDPOINTS and request.method != "OPTIONS":
        auth.authenticate()


@api_v1.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())


def register_api(app: Flask) -> None:
    jwt.init_app(app)
    configure_jwt_errors(jwt)
    register_error_handlers(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api_v1)
    app.register_blueprint(health.health_bp)
