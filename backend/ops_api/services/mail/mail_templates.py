"""Rendering of the inactivity e-mail: the Jinja templates in ops_api/templates/email, and how moments read."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ops_api.clock import ensure_utc


@lru_cache(maxsize=1)
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("ops_api", "templates/email"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """The plain-text and HTML bodies of a message of ``kind``."""
    environment = templates()
    return (
        environment.get_template(f"{kind}.txt").render(context),
        environment.get_template(f"{kind}.html").render(context),
    )


def when(value: datetime) -> str:
    """A moment as the messages show it: ``Monday 4 January 2027, 14:00 UTC``."""
    value = ensure_utc(value)
    return f"{value:%A} {value.day} {value:%B %Y, %H:%M} UTC"
