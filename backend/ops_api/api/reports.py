"""Reports for the admin UI (/api/v1/reports): parse the request, call one service, render the result."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from ops_api.api.auth import admin_only
from ops_api.api.schemas import DeactivationsQuery, load, query_args
from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.services.evidence import keys_from_config
from ops_api.services.report.deactivation_report import build_report
from ops_api.services.report.report_html import HEADER_POLICY, project_version, render_evidence_page

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/deactivations")
@admin_only
def deactivations() -> Response:
    """The AC-2(3) evidence of `flask inactive-users-report`: the JSON document, or the HTML page."""
    query = load(DeactivationsQuery(), query_args())
    output_format = query["format"]
    evidence = build_report(
        db.session(),
        start=query["from_"],
        end=query["to"],
        now=query.get("as_of") or utcnow(),
        threshold_days=current_app.config["DEACTIVATION_INACTIVE_DAYS"],
        keys=keys_from_config(current_app.config),
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
