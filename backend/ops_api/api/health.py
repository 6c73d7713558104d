"""Unauthenticated health endpoints for uptime probes.

``GET /api/v1/health/disable-inactive-users[?max_age=2h]`` answers 200 when
the inactive-account job's last successful real run finished within
``max_age`` (default 2h), with the run's details, and 503 in the API's one
error shape when it is older (``job_stale``), when there has never been one
(``job_never_succeeded``), when the chain of the job's own records over the
last month is broken (``job_chain_broken``: the message names the record
deleted, edited or inserted), or when the database cannot be asked
(``job_health_unavailable``). It says only when the job last ran and how that
went: no user data, no errors from the database.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from ops_api.api.errors import error_response
from ops_api.api.schemas import HealthQuery, JobHealthSchema, load, query_args
from ops_api.clock import utcnow
from ops_api.errors import describe_error
from ops_api.extensions import db
from ops_api.services.evidence import keys_from_config
from ops_api.services.job.job_runs import JOB_NAME, job_health

logger = logging.getLogger(__name__)

health_bp = Blueprint("health", __name__, url_prefix="/api/v1/health")


@health_bp.get("/disable-inactive-users")
def disable_inactive_users_health() -> tuple[Response, int]:
    max_age = load(HealthQuery(), query_args())["max_age"]
    try:
        health = job_health(db.session(), max_age=max_age, now=utcnow(), keys=keys_from_config(current_app.config))
    except Exception as exc:  # the probe must get an answer, not a stack trace
        db.session.rollback()
        logger.error("health check of %s failed: %s", JOB_NAME, describe_error(exc), extra={"event": "health_check_error"})
        return error_response(503, "job_health_unavailable", f"the run history of {JOB_NAME} cannot be read"), 503
    if not health.healthy:
        return error_response(503, f"job_{health.status}", health.describe()), 503
    return jsonify(JobHealthSchema().dump(health)), 200
