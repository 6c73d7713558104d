"""Each named PostgreSQL driver reaches the migrated schema through the settings."""


import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ops_api import create_app
from ops_api.extensions import db
from ops_api.models import User


@pytest.mark.pg_driver
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_each_named_driver_reaches_the_migrated_schema(pg_schema_url, test_schema, driver):
    pytest.importorskip(driver)
    url = make_url(pg_schema_url).set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DB_SCHEMA": test_schema})
    with app.app_context():
        assert db.engine.dialect.driver == driver
        # OPS_DB_SCHEMA names the schema in every statement, whatever the search_path finds.
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() >= 0
        assert db.session.execute(sa.text("SELECT current_schema()")).scalar_one() != test_schema
        assert db.session.execute(sa.text("SHOW lock_timeout")).scalar_one() == "5s"
        db.session.remove()
        db.engine.dispose()
