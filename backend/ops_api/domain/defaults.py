"""Facts of the inactivity job that more than one module needs: each is written here once.

Settings (config.py), services, the CLI and the tools import them from here;
nothing here imports from the rest of the package.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

# The job, as alerts, run records and the health check name it.
JOB_NAME = "disable-inactive-users"

# The rule: days without activity after which an ACTIVE account is disabled
# (OPS_DEACTIVATION_INACTIVE_DAYS), and the longest threshold accepted (a
# century: anything longer is a typo, and would overflow date arithmetic).
DEFAULT_INACTIVE_DAYS = 60
MAX_INACTIVE_DAYS = 36_500
# The safety cap: a run that finds more users due disables nobody (OPS_DEACTIVATION_MAX_PER_RUN; 0: no cap).
DEFAULT_MAX_DISABLE = 50

# OPS's System Admin: the job acts as this user, and never disables it.
SYSTEM_ADMIN_OIDC_ID = uuid.UUID("00000000-0000-1111-a111-000000000026")
# The users OPS's FakeAuthProvider signs in as (development logins). Like the
# System Admin they are never disabled, unless OPS_DEACTIVATION_EXCLUDED_OIDC_IDS
# says otherwise; `flask seed-demo` creates them.
FAKEAUTH_OIDC_IDS = tuple(
    uuid.UUID(f"00000000-0000-1111-a111-0000000000{n}") for n in ("18", "19", "20", "21", "22", "27", "28", "29")
)

# Accounts the job never disables unless OPS_DEACTIVATION_EXCLUDED_OIDC_IDS says otherwise: the System
# Admin (the job's actor) and the users OPS's FakeAuthProvider offers.
DEFAULT_EXCLUDED_OIDC_IDS = (SYSTEM_ADMIN_OIDC_ID, *FAKEAUTH_OIDC_IDS)

# How long a failed deactivation notice or summary is tried again (once a run);
# the evidence report looks this far after a deactivation for its notice.
NOTICE_RETRY_WINDOW = timedelta(days=7)

# E-mail (OPS_DEACTIVATION_WARN_DAYS, OPS_SMTP_*, OPS_PRODUCT_NAME, OPS_SUPPORT_CONTACT).
DEFAULT_WARN_DAYS = (7, 1)
DEFAULT_SMTP_TIMEOUT_SECONDS = 10
DEFAULT_PRODUCT_NAME = "OPS"
DEFAULT_SUPPORT_CONTACT = "a user administrator"


class SmtpSecurity(StrEnum):
    """How the connection to the SMTP server is protected (OPS_SMTP_SECURITY)."""

    TLS = "tls"  # TLS from the first byte (SMTPS, "implicit TLS")
    STARTTLS = "starttls"  # a plain connection upgraded with STARTTLS before anything is sent
    NONE = "none"  # plain SMTP: only without credentials


DEFAULT_SMTP_SECURITY = SmtpSecurity.STARTTLS
# The port when OPS_SMTP_PORT is not set. Plain SMTP keeps 587, the one
# default there was before OPS_SMTP_SECURITY, so OPS_SMTP_STARTTLS=false means what it did.
DEFAULT_SMTP_PORTS = {SmtpSecurity.TLS: 465, SmtpSecurity.STARTTLS: 587, SmtpSecurity.NONE: 587}
