"""The README's set-up steps, run as real `flask` processes from the repository root."""

import sqlalchemy as sa

from cli_runner import run_flask


def test_db_upgrade_then_seed_demo_work_from_the_repository_root(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"

    upgraded = run_flask("db", "upgrade", database_url=url)
    seeded = run_flask("seed-demo", database_url=url)
    seeded_again = run_flask("seed-demo", database_url=url)

    assert upgraded.returncode == 0, upgraded.stderr
    assert seeded.returncode == 0, seeded.stderr
    assert "16 users added" in seeded.stdout  # 8 FakeAuth + 8 ordinary users, besides the System Admin
    assert "0 users added" in seeded_again.stdout
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM ops_user")).scalar() == 17  # and the System Admin
    engine.dispose()
