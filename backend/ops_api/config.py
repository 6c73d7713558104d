"""Settings: defaults, then OPS_-prefixed environment variables, then the mapping given to create_app.

``DATABASE_URL`` selects PostgreSQL; without it the application uses a SQLite
file in the Flask instance folder, so a fresh checkout runs with no server.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sqlite3
import ssl
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ops_api.domain.defaults import (
    DEFAULT_EXCLUDED_OIDC_IDS,
    DEFAULT_INACTIVE_DAYS,
    DEFAULT_MAX_DISABLE,
    DEFAULT_PRODUCT_NAME,
    DEFAULT_SMTP_PORTS,
    DEFAULT_SMTP_SECURITY,
    DEFAULT_SMTP_TIMEOUT_SECONDS,
    DEFAULT_SUPPORT_CONTACT,
    DEFAULT_WARN_DAYS,
    MAX_INACTIVE_DAYS,
    SmtpSecurity,
)
from ops_api.secret_strength import GENERATE_KEY_COMMAND, key_weakness
from ops_api.sql import OWN_SCHEMA

# The only OPS_ENV_NAME values (compared without case or surrounding blanks)
# under which development behaviour is allowed: FakeAuth, the published test
# secret, `flask seed-demo` and `flask seed-load`. Every other name, and no
# name at all, is a deployed environment.
DEVELOPMENT_ENV_NAMES = ("local", "dev", "development", "test")
# The API's request size limit: a PATCH with every field at its longest is under 4 KiB.
MAX_CONTENT_LENGTH = 64 * 1024
MAX_CONTENT_LENGTH_LIMIT = 16 * 1024 * 1024
# Names the environment in alerts when OPS_ENV_NAME is not set (a deployed environment).
DEFAULT_ENV_NAME = "unnamed"
# A URL with a scheme (json://, mailto://, msteams://) and no blanks.
_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
# A comma that starts another URL; commas inside one URL (mailto://...?to=a,b) stay.
_URL_SEPARATOR = re.compile(r"\s*,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


DEFAULT_DB_SCHEMA = "ops"
JOB_CLOCK_DATABASE = "database"
JOB_CLOCK_PROCESS = "process"
# This project's own schema, beside OPS's (OPS_DEACTIVATION_SCHEMA): its tables,
# trigger functions and Alembic version table. OPS's tools never look there.
DEFAULT_DEACTIVATION_SCHEMA = "user_deactivation"
# A plain, unquoted PostgreSQL identifier: it is written into DDL and triggers.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting has a value the application cannot use."""


def defaults(instance_path: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url_from_env(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # Inactivity rule and job settings (OPS_DEACTIVATION_*).
        "DEACTIVATION_INACTIVE_DAYS": DEFAULT_INACTIVE_DAYS,
        "DEACTIVATION_MAX_PER_RUN": DEFAULT_MAX_DISABLE,
        "DEACTIVATION_EXCLUDED_OIDC_IDS": None,  # None: DEFAULT_EXCLUDED_OIDC_IDS
        "MIGRATIONS_DIRECTORY": None,  # None: the migrations shipped with the package
        # The PostgreSQL schema that holds OPS's tables (OPS_DB_SCHEMA); unused on SQLite.
        "DB_SCHEMA": DEFAULT_DB_SCHEMA,
        # The PostgreSQL schema that holds this project's own state (OPS_DEACTIVATION_SCHEMA); unused on SQLite.
        "DEACTIVATION_SCHEMA": DEFAULT_DEACTIVATION_SCHEMA,
        # PostgreSQL: how long a statement waits for a row or table lock (OPS_DB_LOCK_TIMEOUT_MS).
        # The job then fails that one user, not the run; nothing waits forever.
        "DB_LOCK_TIMEOUT_MS": 5000,
        # PostgreSQL: how long one statement of the job's rule may run (OPS_DB_STATEMENT_TIMEOUT_MS).
        "DB_STATEMENT_TIMEOUT_MS": 300_000,
        # Where a run of the job takes "now" (OPS_JOB_CLOCK): "database", the database server's clock,
        # checked against this process's; "process" (development only: tests freeze it) this process's own.
        "JOB_CLOCK": JOB_CLOCK_DATABASE,
        # Failure alerts (OPS_ALERT_URLS, OPS_ENV_NAME): alert URLs (their forms are in
        # adapters/alert_destinations.py) and the environment's name, which every alert carries.
        "ALERT_URLS": (),
        # The evidence chain (OPS_EVIDENCE_KEY, OPS_EVIDENCE_PREVIOUS_KEYS): the key that seals the job's run
        # and e-mail records, and earlier keys that still verify older ones. Never stored, logged or shown.
        "EVIDENCE_KEY": None,
        "EVIDENCE_PREVIOUS_KEYS": (),
        **auth_defaults(),
        **mail_defaults(),
    }


def mail_defaults() -> dict[str, Any]:
    """Inactivity warnings and notices by e-mail (OPS_DEACTIVATION_WARN_DAYS, OPS_SMTP_*, OPS_MAIL_SENDER, ...)."""
    return {
        # Warn when the account's disable date is this many days away (each at most once per period).
        "DEACTIVATION_WARN_DAYS": ",".join(str(days) for days in DEFAULT_WARN_DAYS),
        # No host: e-mail is off (the job says so once per run and sends nothing).
        "SMTP_HOST": None,
        "SMTP_PORT": None,  # None: the usual port of SMTP_SECURITY (DEFAULT_SMTP_PORTS)
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        # tls, starttls or none. None: DEFAULT_SMTP_SECURITY, or what the older
        # SMTP_STARTTLS says when only that is set (true: starttls, false: none).
        "SMTP_SECURITY": None,
        "SMTP_STARTTLS": None,
        # A PEM file of CA certificates trusted besides the system's, for a private relay's certificate.
        "SMTP_TLS_CA_FILE": None,
        # false accepts any certificate: refused outside a development environment.
        "SMTP_TLS_VERIFY": True,
        "SMTP_TIMEOUT": DEFAULT_SMTP_TIMEOUT_SECONDS,  # seconds, 1 to MAX_SMTP_TIMEOUT
        "MAIL_SENDER": None,
        "PRODUCT_NAME": DEFAULT_PRODUCT_NAME,
        "SUPPORT_CONTACT": DEFAULT_SUPPORT_CONTACT,
    }


def auth_defaults() -> dict[str, Any]:
    """Settings of the API's sign-in and tokens (OPS_ENV_NAME, OPS_FAKEAUTH_ENABLED, OPS_JWT_*)."""
    return {
        "ENV_NAME": DEFAULT_ENV_NAME,
        "FAKEAUTH_ENABLED": False,
        # None: the API answers 503 until a secret is configured; the CLI needs none.
        "JWT_SECRET_KEY": None,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(hours=12),
        # The largest request body the API reads, in bytes (413 beyond it).
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH,
    }


def database_url_from_env(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + os.path.join(instance_path, "ops.db")
    return normalize_database_url(url)


# The PostgreSQL drivers this application runs on: SQLAlchemy's name for each,
# and the module it imports. psycopg 3 comes first: a bare postgresql:// URL
# uses it when it is installed, and psycopg2 (OPS's driver) otherwise.
POSTGRESQL_DRIVERS = {"postgresql+psycopg": "psycopg", "postgresql+psycopg2": "psycopg2"}
MINIMUM_SQLITE = (3, 35, 0)
SUPPORTED_DRIVERS = ("sqlite", *POSTGRESQL_DRIVERS)
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}


def driver_installed(module: str) -> bool:
    """Whether the driver module imports here (psycopg 3 also needs a libpq it can load)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def normalize_database_url(url: str) -> str:
    """Name the driver in a bare PostgreSQL URL: psycopg 3 if installed, else psycopg2.

    A URL that already names a driver is left as it is; check_database_url
    then refuses it if that driver is not installed.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            for name, module in POSTGRESQL_DRIVERS.items():
                if driver_installed(module):
                    return f"{name}://" + url[len(prefix) :]
            raise ConfigError(
                "DATABASE_URL is a PostgreSQL URL but no PostgreSQL driver is installed "
                "(install psycopg[binary] or psycopg2-binary)"
            )
    return url


def check_database_url(url: str) -> None:
    """Refuse a URL that does not parse, names a database this application does not run on,
    or names a driver that is not installed.

    The message never repeats the URL: it may carry a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL (e.g. postgresql://user@host:5432/db)") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"DATABASE_URL names {parsed.drivername!r}; use PostgreSQL (postgresql://, postgresql+psycopg:// "
            "or postgresql+psycopg2://) or SQLite (sqlite:///...)"
        )
    module = POSTGRESQL_DRIVERS.get(parsed.drivername)
    if module is not None and not driver_installed(module):
        others = [name for name, other in POSTGRESQL_DRIVERS.items() if other != module and driver_installed(other)]
        instead = f", or use {others[0]}://" if others else ""
        raise ConfigError(
            f"DATABASE_URL names {parsed.drivername!r} but {module} is not installed "
            f"(install {_DRIVER_PACKAGES[module]}{instead})"
        )


def _shown(value: Any) -> str:
    """A setting's value for a message: never more than a line's worth of it."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return "a number of more than 15 digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive_int(config: Mapping[str, Any], key: str, *, allow_zero: bool, highest: int | None = None) -> int:
    value = config[key]
    if isinstance(value, str):
        value = value.strip()
        digits = value[1:] if value.startswith("-") else value
        if digits.isascii() and digits.isdigit():
            # Python refuses to read more than 4,300 digits; no setting needs 16.
            value = int(value) if len(digits) <= 15 else (-(10**15) if value.startswith("-") else 10**15)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"OPS_{key} must be a whole number, got {_shown(config[key])}")
    if value < 0 or (value == 0 and not allow_zero):
        lowest = 0 if allow_zero else 1
        raise ConfigError(f"OPS_{key} must be {lowest} or more, got {_shown(value)}")
    if highest is not None and value > highest:
        raise ConfigError(f"OPS_{key} must be {highest} or less, got {_shown(value)}")
    return value


def _listed(value: Any, name: str, split: Callable[[str], list[str]]) -> Any:
    """A setting given as text becomes a list: JSON if it starts with "[", else ``split(text)``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text.startswith("["):
        return split(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"OPS_{name} is not valid JSON: {exc}") from None


def parse_oidc_ids(value: Any) -> tuple[uuid.UUID, ...]:
    """Accept a JSON list, a comma-separated string or an iterable of UUIDs."""
    value = _listed(
        value, "DEACTIVATION_EXCLUDED_OIDC_IDS", lambda text: [p for p in (p.strip() for p in text.split(",")) if p]
    )
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigError(
            f"OPS_DEACTIVATION_EXCLUDED_OIDC_IDS must be a list of UUIDs, got {value!r}"
        )
    ids = []
    for item in value:
        try:
            ids.append(item if isinstance(item, uuid.UUID) else uuid.UUID(str(item)))
        except ValueError:
            raise ConfigError(f"OPS_DEACTIVATION_EXCLUDED_OIDC_IDS: {item!r} is not a UUID") from None
    return tuple(ids)


# Signs test tokens only; create_app uses it when TESTING is on, no secret is
# given and OPS_ENV_NAME names a development environment.
TESTING_JWT_SECRET_KEY = "testing-only-secret-never-used-outside-the-test-suite"
# Secrets that appear in this repository: anyone can read them, so a deployed
# environment refuses them whatever else it is told.
PUBLISHED_SECRETS = frozenset({TESTING_JWT_SECRET_KEY})
MIN_JWT_SECRET_LENGTH = 32  # HS256 wants a key at least as long as its 256-bit output
MIN_EVIDENCE_KEY_LENGTH = 32  # HMAC-SHA256 likewise
# Upper bounds of settings that become timers: beyond them a value is a typo,
# and far beyond them it overflows the clock or the socket layer.
MAX_ACCESS_TOKEN_SECONDS = 86_400  # 1 day
MAX_REFRESH_TOKEN_SECONDS = 30 * 86_400  # 30 days
MAX_SMTP_TIMEOUT = 600  # 10 minutes
MAX_DEACTIVATION_MAX_PER_RUN = 10_000_000


def is_development_environment(config: Mapping[str, Any]) -> bool:
    """Whether OPS_ENV_NAME is one of DEVELOPMENT_ENV_NAMES. Anything else, or nothing, is deployed."""
    name = config.get("ENV_NAME")
    return isinstance(name, str) and name.strip().lower() in DEVELOPMENT_ENV_NAMES


def describe_environment(config: Mapping[str, Any]) -> str:
    """How a refusal names the environment, e.g. "OPS_ENV_NAME 'staging' is not a development environment"."""
    name = config.get("ENV_NAME")
    listed = ", ".join(DEVELOPMENT_ENV_NAMES)
    if name in (None, "", DEFAULT_ENV_NAME):
        return f"OPS_ENV_NAME is not set, so this is a deployed environment (development names: {listed})"
    return f"OPS_ENV_NAME {_shown(str(name))} is not a development environment ({listed})"


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is unfit to sign tokens in a deployed environment, or None (secret_strength.key_weakness)."""
    return key_weakness(secret, PUBLISHED_SECRETS)


def _boolean(config: Mapping[str, Any], key: str) -> bool:
    value = config[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"OPS_{key} must be true or false, got {value!r}")


def _duration(config: Mapping[str, Any], key: str, highest_seconds: int) -> timedelta:
    """Whole seconds (or a timedelta), from 1 to ``highest_seconds``."""
    value = config[key]
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ConfigError(f"OPS_{key} must be a positive number of seconds, got {_shown(value)}")
        if value > timedelta(seconds=highest_seconds):
            raise ConfigError(f"OPS_{key} must be {highest_seconds} seconds or less")
        return value
    return timedelta(seconds=_positive_int(config, key, allow_zero=False, highest=highest_seconds))


def finalize_env_name(config: MutableMapping[str, Any]) -> None:
    """OPS_ENV_NAME without surrounding blanks; DEFAULT_ENV_NAME (a deployed environment) when unset."""
    env_name = config.get("ENV_NAME")
    env_name = "" if env_name is None else str(env_name).strip()
    config["ENV_NAME"] = env_name or DEFAULT_ENV_NAME


def finalize_auth(config: MutableMapping[str, Any]) -> None:
    """Validate the sign-in settings. Outside a development environment: no FakeAuth, no published or weak secret."""
    development = is_development_environment(config)
    config["FAKEAUTH_ENABLED"] = _boolean(config, "FAKEAUTH_ENABLED")
    if config["FAKEAUTH_ENABLED"] and not development:
        raise ConfigError(f"OPS_FAKEAUTH_ENABLED must not be true: {describe_environment(config)}")
    secret = config.get("JWT_SECRET_KEY")
    if isinstance(secret, str):
        secret = secret.strip() or None
    if secret is None and config.get("TESTING") and development:
        # Only where OPS_ENV_NAME names a development environment: this secret is in the source.
        secret = TESTING_JWT_SECRET_KEY
    if secret is not None and (not isinstance(secret, str) or len(secret) < MIN_JWT_SECRET_LENGTH):
        raise ConfigError(f"OPS_JWT_SECRET_KEY must be a string of at least {MIN_JWT_SECRET_LENGTH} characters")
    if secret is not None and not development:
        weakness = secret_weakness(secret)
        if weakness is not None:
            raise ConfigError(
                f"OPS_JWT_SECRET_KEY {weakness}; a deployed environment needs a randomly generated key "
                f"of its own, made with: {GENERATE_KEY_COMMAND}"
            )
    config["JWT_SECRET_KEY"] = secret
    config["JWT_ACCESS_TOKEN_EXPIRES"] = _duration(config, "JWT_ACCESS_TOKEN_EXPIRES", MAX_ACCESS_TOKEN_SECONDS)
    config["JWT_REFRESH_TOKEN_EXPIRES"] = _duration(config, "JWT_REFRESH_TOKEN_EXPIRES", MAX_REFRESH_TOKEN_SECONDS)


def parse_alert_urls(value: Any) -> tuple[str, ...]:
    """Accept one URL, a JSON list of URLs, or URLs separated by commas; empty means no alerts.

    The URLs carry webhook tokens and passwords, so messages name an entry by
    its position, never by its text.
    """
    if value is None:
        return ()
    value = _listed(value, "ALERT_URLS", lambda text: _URL_SEPARATOR.split(text) if text else [])
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"OPS_ALERT_URLS must be a URL or a list of URLs, got a {type(value).__name__}")
    urls = []
    for position, item in enumerate(value, start=1):
        url = item.strip() if isinstance(item, str) else ""
        if not _URL_START.match(url):
            raise ConfigError(f"OPS_ALERT_URLS: entry {position} is not a URL of the form scheme://...")
        urls.append(url)
    return tuple(urls)


def parse_warn_days(value: Any, *, inactive_days: int) -> tuple[int, ...]:
    """``"7,1"``, ``[7, 1]`` or ``7`` as whole days, largest first; empty means no warnings."""
    if value is None:
        return ()
    if isinstance(value, bool):
        raise ConfigError(f"OPS_DEACTIVATION_WARN_DAYS must be whole days separated by commas, got {_shown(value)}")
    if isinstance(value, int):
        value = [value]
    elif isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"OPS_DEACTIVATION_WARN_DAYS must be whole days separated by commas, got {_shown(value)}")
    days = set()
    for item in value:
        if isinstance(item, bool):
            text = ""
        elif isinstance(item, int) and abs(item) >= 10**15:
            text = "9" * 16  # str() of a very long number raises; it is out of range anyway
        else:
            text = str(item).strip()
        if not (text.isascii() and text.isdigit()):
            raise ConfigError(f"OPS_DEACTIVATION_WARN_DAYS: {_shown(item)} is not a whole number of days")
        # More digits than any threshold has is out of range, and is never read as a number.
        number = int(text) if len(text) <= 6 else None
        if number is None or not 1 <= number < inactive_days:
            raise ConfigError(
                f"OPS_DEACTIVATION_WARN_DAYS: {number if number is not None else 'a number that long'} must be at least 1 and less than "
                f"OPS_DEACTIVATION_INACTIVE_DAYS ({inactive_days})"
            )
        days.add(number)
    return tuple(sorted(days, reverse=True))


def _optional_text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    text = str(value).strip()
    return text or None


def _smtp_security(config: Mapping[str, Any]) -> SmtpSecurity:
    """OPS_SMTP_SECURITY; without it, the older OPS_SMTP_STARTTLS (true: starttls, false: none); else the default."""
    text = _optional_text(config, "SMTP_SECURITY")
    security = None
    if text is not None:
        try:
            security = SmtpSecurity(text.lower())
        except ValueError:
            choices = ", ".join(mode.value for mode in SmtpSecurity)
            raise ConfigError(f"OPS_SMTP_SECURITY must be one of {choices}, got {_shown(text)}") from None
    if config.get("SMTP_STARTTLS") is None:
        return security or DEFAULT_SMTP_SECURITY
    starttls = _boolean(config, "SMTP_STARTTLS")
    if security is None:
        return SmtpSecurity.STARTTLS if starttls else SmtpSecurity.NONE
    if starttls != (security is SmtpSecurity.STARTTLS):
        raise ConfigError(
            f"OPS_SMTP_STARTTLS={str(starttls).lower()} contradicts OPS_SMTP_SECURITY={security.value}; "
            "remove OPS_SMTP_STARTTLS (OPS_SMTP_SECURITY replaces it)"
        )
    return security


def _ca_file(config: Mapping[str, Any]) -> str | None:
    """OPS_SMTP_TLS_CA_FILE, checked now: a file that holds at least one PEM certificate."""
    path = _optional_text(config, "SMTP_TLS_CA_FILE")
    if path is None:
        return None
    # A path's end names the file: a long one is shortened at its start.
    shown = repr(path) if len(path) <= 120 else f"'...{path[-100:]}'"
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except ssl.SSLError:
        raise ConfigError(f"OPS_SMTP_TLS_CA_FILE: {shown} holds no PEM certificate") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"OPS_SMTP_TLS_CA_FILE: cannot read {shown} ({reason})") from None
    return path


def _tls_verify(config: Mapping[str, Any]) -> bool:
    """OPS_SMTP_TLS_VERIFY; false only in a development environment, and an empty value is not false."""
    value = config.get("SMTP_TLS_VERIFY")
    if isinstance(value, str) and not value.strip():
        raise ConfigError("OPS_SMTP_TLS_VERIFY must be true or false, got ''")
    verify = _boolean(config, "SMTP_TLS_VERIFY")
    if not verify and not is_development_environment(config):
        raise ConfigError(f"OPS_SMTP_TLS_VERIFY must not be false: {describe_environment(config)}")
    return verify


def finalize_mail(config: MutableMapping[str, Any]) -> None:
    """Validate the e-mail settings. Without OPS_SMTP_HOST e-mail is off and the rest may stay unset."""
    config["DEACTIVATION_WARN_DAYS"] = parse_warn_days(
        config.get("DEACTIVATION_WARN_DAYS"), inactive_days=config["DEACTIVATION_INACTIVE_DAYS"]
    )
    host = _optional_text(config, "SMTP_HOST")
    if host is not None and any(c.isspace() or c in "/@" for c in host):
        raise ConfigError("OPS_SMTP_HOST must be a host name or address, without a scheme or credentials")
    config["SMTP_HOST"] = host
    security = _smtp_security(config)
    config["SMTP_SECURITY"] = security
    config["SMTP_STARTTLS"] = security is SmtpSecurity.STARTTLS
    if config.get("SMTP_PORT") is None:
        config["SMTP_PORT"] = DEFAULT_SMTP_PORTS[security]
    port = _positive_int(config, "SMTP_PORT", allow_zero=False)
    if port > 65535:
        raise ConfigError(f"OPS_SMTP_PORT must be at most 65535, got {port}")
    config["SMTP_PORT"] = port
    config["SMTP_TLS_CA_FILE"] = _ca_file(config)
    config["SMTP_TLS_VERIFY"] = _tls_verify(config)
    config["SMTP_TIMEOUT"] = _positive_int(config, "SMTP_TIMEOUT", allow_zero=False, highest=MAX_SMTP_TIMEOUT)
    config["SMTP_USERNAME"] = _optional_text(config, "SMTP_USERNAME")
    password = config.get("SMTP_PASSWORD")
    config["SMTP_PASSWORD"] = None if password is None or password == "" else str(password)
    if (config["SMTP_USERNAME"] is None) != (config["SMTP_PASSWORD"] is None):
        raise ConfigError("OPS_SMTP_USERNAME and OPS_SMTP_PASSWORD must be set together")
    if config["SMTP_USERNAME"] is not None and security is SmtpSecurity.NONE:
        raise ConfigError(
            "OPS_SMTP_USERNAME needs OPS_SMTP_SECURITY=tls or starttls (the default): credentials are never sent in clear"
        )
    sender = _optional_text(config, "MAIL_SENDER")
    if sender is not None:
        _, address = parseaddr(sender)
        if "@" not in address or any(c.isspace() for c in address):
            raise ConfigError(f"OPS_MAIL_SENDER must be an e-mail address, got {sender!r}")
    elif host is not None:
        raise ConfigError("OPS_MAIL_SENDER must be set when OPS_SMTP_HOST is (the From: of every message)")
    config["MAIL_SENDER"] = sender
    config["PRODUCT_NAME"] = _optional_text(config, "PRODUCT_NAME") or DEFAULT_PRODUCT_NAME
    config["SUPPORT_CONTACT"] = _optional_text(config, "SUPPORT_CONTACT") or DEFAULT_SUPPORT_CONTACT


def _schema_name(config: Mapping[str, Any], key: str) -> str:
    schema = config.get(key)
    schema = schema.strip() if isinstance(schema, str) else schema
    if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
        raise ConfigError(
            f"OPS_{key} must be a plain PostgreSQL schema name (lower-case letters, digits, _), got {_shown(schema)}"
        )
    return schema


def _key_text(value: Any) -> str | None:
    """A key as text: the environment's JSON parsing may have made a number of an all-digit key."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def finalize_evidence(config: MutableMapping[str, Any]) -> None:
    """Validate the evidence keys. A deployed environment's job refuses to run without OPS_EVIDENCE_KEY.

    The messages never show a key, only which setting failed and how.
    """
    development = is_development_environment(config)
    key = _key_text(config.get("EVIDENCE_KEY"))
    previous = _listed(config.get("EVIDENCE_PREVIOUS_KEYS"), "EVIDENCE_PREVIOUS_KEYS",
                       lambda text: [part for part in (p.strip() for p in text.split(",")) if part])
    if previous is None:
        previous = []
    if not isinstance(previous, (list, tuple)):
        raise ConfigError("OPS_EVIDENCE_PREVIOUS_KEYS must be keys separated by commas, or a JSON list of keys")
    previous_keys = []
    for position, item in enumerate(previous, start=1):
        text = _key_text(item)
        if text is None or len(text) < MIN_EVIDENCE_KEY_LENGTH:
            raise ConfigError(
                f"OPS_EVIDENCE_PREVIOUS_KEYS: entry {position} must be a key of at least {MIN_EVIDENCE_KEY_LENGTH} characters"
            )
        previous_keys.append(text)
    if key is not None and len(key) < MIN_EVIDENCE_KEY_LENGTH:
        raise ConfigError(f"OPS_EVIDENCE_KEY must be a string of at least {MIN_EVIDENCE_KEY_LENGTH} characters")
    if key is not None and not development:
        weakness = secret_weakness(key)
        if weakness is not None:
            raise ConfigError(
                f"OPS_EVIDENCE_KEY {weakness}; a deployed environment needs a randomly generated key "
                f"of its own, made with: {GENERATE_KEY_COMMAND}"
            )
        if key == config.get("JWT_SECRET_KEY"):
            raise ConfigError("OPS_EVIDENCE_KEY must not be OPS_JWT_SECRET_KEY: each secret has one use")
    config["EVIDENCE_KEY"] = key
    config["EVIDENCE_PREVIOUS_KEYS"] = tuple(previous_keys)
    # Derived, not a setting: whether the job must refuse to run without a key.
    config["EVIDENCE_KEY_REQUIRED"] = not development


def finalize(config: MutableMapping[str, Any]) -> None:
    """Validate and normalise the settings in place; raise ConfigError with a one-line message."""
    finalize_env_name(config)
    finalize_auth(config)
    finalize_evidence(config)
    uri = config.get("SQLALCHEMY_DATABASE_URI")
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError("SQLALCHEMY_DATABASE_URI (or DATABASE_URL) must be a database URL")
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(uri.strip())
    check_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config["DEACTIVATION_INACTIVE_DAYS"] = _positive_int(
        config, "DEACTIVATION_INACTIVE_DAYS", allow_zero=False, highest=MAX_INACTIVE_DAYS
    )
    config["DEACTIVATION_MAX_PER_RUN"] = _positive_int(
        config, "DEACTIVATION_MAX_PER_RUN", allow_zero=True, highest=MAX_DEACTIVATION_MAX_PER_RUN
    )
    excluded = config.get("DEACTIVATION_EXCLUDED_OIDC_IDS")
    config["DEACTIVATION_EXCLUDED_OIDC_IDS"] = (
        DEFAULT_EXCLUDED_OIDC_IDS if excluded is None else parse_oidc_ids(excluded)
    )
    config["ALERT_URLS"] = parse_alert_urls(config.get("ALERT_URLS"))
    finalize_mail(config)
    clock = str(config.get("JOB_CLOCK") or "").strip().lower()
    if clock not in (JOB_CLOCK_DATABASE, JOB_CLOCK_PROCESS):
        raise ConfigError(f"OPS_JOB_CLOCK must be {JOB_CLOCK_DATABASE} or {JOB_CLOCK_PROCESS}, got {_shown(config.get('JOB_CLOCK'))}")
    if clock == JOB_CLOCK_PROCESS and not is_development_environment(config):
        raise ConfigError(f"OPS_JOB_CLOCK must be {JOB_CLOCK_DATABASE}: {describe_environment(config)}")
    config["JOB_CLOCK"] = clock
    config["DB_SCHEMA"] = _schema_name(config, "DB_SCHEMA")
    config["DEACTIVATION_SCHEMA"] = _schema_name(config, "DEACTIVATION_SCHEMA")
    if config["DEACTIVATION_SCHEMA"] == config["DB_SCHEMA"]:
        raise ConfigError(
            "OPS_DEACTIVATION_SCHEMA must name a schema of this project's own, not OPS's schema "
            f"(both are {config['DB_SCHEMA']!r})"
        )
    config["DB_LOCK_TIMEOUT_MS"] = _positive_int(config, "DB_LOCK_TIMEOUT_MS", allow_zero=False, highest=3_600_000)
    config["MAX_CONTENT_LENGTH"] = _positive_int(config, "MAX_CONTENT_LENGTH", allow_zero=False, highest=MAX_CONTENT_LENGTH_LIMIT)
    # No more than the platform's 30-minute timeout: a statement that runs longer is stuck.
    config["DB_STATEMENT_TIMEOUT_MS"] = _positive_int(
        config, "DB_STATEMENT_TIMEOUT_MS", allow_zero=False, highest=1_800_000
    )
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite has no schemas: this project's tables sit beside OPS's in the one file ("main").
        options.setdefault("execution_options", {})["schema_translate_map"] = {OWN_SCHEMA: "main"}
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            # The audit and version-trail inserts read their new keys back with RETURNING (SQLite 3.35).
            raise ConfigError(
                f"SQLite {'.'.join(map(str, MINIMUM_SQLITE))} or later is needed; this Python has {sqlite3.sqlite_version}"
            )
        # Writers wait for each other instead of failing at once.
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        # Every statement names its schema in full, whatever the login role's
        # search_path finds first (OPS's tables are not in public): OPS's tables
        # in OPS_DB_SCHEMA, this project's own in OPS_DEACTIVATION_SCHEMA.
        options.setdefault("execution_options", {})["schema_translate_map"] = {
            None: config["DB_SCHEMA"],
            OWN_SCHEMA: config["DEACTIVATION_SCHEMA"],
        }
        options.setdefault("pool_pre_ping", True)
        # An unreachable server fails the run in seconds instead of hanging it.
        options.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options
