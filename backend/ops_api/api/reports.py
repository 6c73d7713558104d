"""Reports for the admin UI (/api/v1/reports): parse the request, call one service, render the result."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from ops_api.api.auth import admin_only
from ops_api.api.errors import validation_error
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.services.deactivation_report import ReportRangeError, build_report, check_range, parse_bound

bp = Blueprint("reports", __name__, url_prefix="/reports")

DEACTIVATIONS_QUERY = frozenset({"from", "to"})


@bp.get("/deactivations")
@admin_only
def deactivations() -> Response:
    """The AC-2(3) evidence of `flask inactive-users-report`, as JSON."""
    fields = {key: ["unknown query parameter"] for key in sorted(set(request.args) - DEACTIVATIONS_QUERY)}
    bounds = {}
    for key in ("from", "to"):
        if key not in request.args:
            fields[key] = ["required: a date (2026-03-01) or an ISO 8601 instant"]
            continue
        try:
            bounds[key] = parse_bound(request.args[key], end=key == "to")
        except ReportRangeError as exc:
            fields[key] = [str(exc)]
    if not fields:
        try:
            check_range(bounds["from"], bounds["to"])
        except ReportRangeError as exc:
            fields["to"] = [str(exc)]
    if fields:
        raise validation_error(fields)
    evidence = build_report(
        db.session,
        start=bounds["from"],
        end=bounds["to"],
        now=utcnow(),
        threshold_days=current_app.config["DEACTIVATION_INACTIVE_DAYS"],
    )
    return jsonify(evidence.to_dict())
