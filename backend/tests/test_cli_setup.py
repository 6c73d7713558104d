"""The README's set-up steps, run as real `flask` processes from the repository root."""

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def run_flask(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASK, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_db_upgrade_then_seed_demo_work_from_the_repository_root(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("FLASK_APP", None)  # found through .flaskenv

    upgraded = run_flask("db", "upgrade", env=env)
    seeded = run_flask("seed-demo", env=env)
    seeded_again = run_flask("seed-demo", env=env)

    assert upgraded.returncode == 0, upgraded.stderr
    assert seeded.returncode == 0, seeded.stderr
    assert "15 users added" in seeded.stdout  # 7 FakeAuth + 8 ordinary users, besides the System Admin
    assert "0 users added" in seeded_again.stdout
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM ops_user")).scalar() == 16
    engine.dispose()
