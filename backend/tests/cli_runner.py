"""Run `flask` as a real subprocess from the repository root, as the job container does."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def flask_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_") and k != "FLASK_APP"}
    env["DATABASE_URL"] = database_url
    if "OPS_DB_SCHEMA" in os.environ:  # the test's own schema (see conftest)
        env["OPS_DB_SCHEMA"] = os.environ["OPS_DB_SCHEMA"]
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


class StartedFlask:
    """A `flask` process running in the background, its output going to files (a pipe nobody reads fills up)."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str]) -> None:
        self._stdout = tempfile.TemporaryFile(mode="w+")
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [FLASK, *args], cwd=REPO_ROOT, env=env, stdout=self._stdout, stderr=self._stderr, text=True
        )

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def communicate(self, timeout: float) -> tuple[str, str]:
        """Wait for the process to end; return what it wrote to stdout and stderr."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        outputs = []
        for stream in (self._stdout, self._stderr):
            stream.seek(0)
            outputs.append(stream.read())
            stream.close()
        return outputs[0], outputs[1]


def start_flask(*args: str, database_url: str, **extra_env: str) -> StartedFlask:
    return StartedFlask(args, flask_env(database_url, **extra_env))
