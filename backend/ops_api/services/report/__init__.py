"""The evidence report: every deactivation and every run of the job in a period, as JSON and as a page.

Owns ``deactivation_report`` (what the report holds, read from the events and
the job's runs) and ``report_html`` (the page an assessor reads and prints).

May import: the models, the domain, the other services, and the shared helpers
at the package's root. Never an entry point.

An entry point names an e-mail's status in the report through
``OpsEventStatus`` below, never through the models.
"""

from ops_api.models import OpsEventStatus

__all__ = ["OpsEventStatus"]
