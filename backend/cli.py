"""Thin Flask CLI commands: parse options, call one service, render the result.

Registered on ``app.cli`` by ``ops_api.create_app``; run them as ``flask <command>``.
"""

from __future__ import annotations

import click
from flask import Flask

from ops_api.clock import utcnow
from ops_api.extensions import db
from ops_api.services.demo_data import seed_demo


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo roles and users (idempotent). Run `flask db upgrade` first."""
    added = seed_demo(db.session, now=utcnow())
    db.session.commit()
    click.echo(f"seed-demo: {added} users added")
