"""Run `flask` as a real subprocess from the repository root, as the job container does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def flask_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_") and k != "FLASK_APP"}
    env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_flask(*args: str, database_url: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, *args],
        cwd=REPO_ROOT,
        env=flask_env(database_url, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_flask(*args: str, database_url: str, **extra_env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FLASK, *args],
        cwd=REPO_ROOT,
        env=flask_env(database_url, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
