"""Reports for the admin UI (/api/v1/reports): parse the request, call one service, render the result."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ops_api.api.auth import admin_only
from ops_api.api.errors import validation_error
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.services.deactivation_report import ReportRangeError, build_report, check_range, parse_bound
from ops_api.services.report_html import HEADER_POLICY, project_version, render_evidence_page

bp = Blueprint("reports", __name__, url_prefix="/reports")

DEACTIVATIONS_QUERY = frozenset({"from", "to", "format", "as_of"})
FORMATS = ("json", "html")


@bp.get("/deactivations")
@admin_only
def deactivations() -> Response:
    """The AC-2(3) evidence of `flask inactive-users-report`: the JSON document, or the HTML page."""
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
    output_format = request.args.get("format", "json")
    if output_format not in FORMATS:
        fields["format"] = [f"one of: {', '.join(FORMATS)}"]
    now = as_of = utcnow()
    if "as_of" in request.args:
        try:
            as_of = parse_bound(request.args["as_of"], end=False)
        except ReportRangeError as exc:
            fields["as_of"] = [str(exc)]
        else:
            if as_of > now:
                fields["as_of"] = ["must not be in the future"]
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
        now=as_of,
        threshold_days=current_app.config["DEACTIVATION_INACTIVE_DAYS"],
    )
    if output_format == "json":
        # The very bytes `--format json` prints, so the HTML page's digest can be checked against either.
        return Response(evidence.to_json(), mimetype="application/json")
    page = render_evidence_page(evidence, environment=current_app.config["ENV_NAME"], version=project_version())
    response = Response(page, mimetype="text/html")
    response.headers.update({
        "Content-Security-Policy": HEADER_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    })
    return response
