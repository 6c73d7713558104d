"""Every error answer has the same JSON shape, and none carries a stack trace."""

import logging
from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from ops_api import create_app

from api_support import bearer, error_of, login
from factories import make_user

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def login_at():
    return T0


def test_400_has_the_error_shape(client, user_admin, admin_token):
    with freeze_time(T0):
        response = client.patch(f"/api/v1/users/{user_admin.id}", headers=bearer(admin_token), json={"x": 1})

    assert error_of(response, 400)["fields"] == {"x": ["unknown field"]}


def test_401_has_the_error_shape(client):
    assert error_of(client.get("/api/v1/users"), 401)["fields"] == {}


def test_403_has_the_error_shape(client, session, fakeauth, roles):
    viewer = make_user(session, roles=[roles["VIEWER_EDITOR"]])
    session.commit()
    with freeze_time(T0):
        token = login(client, viewer)["access_token"]
        response = client.get("/api/v1/users", headers=bearer(token))

    assert error_of(response, 403)["code"] == "forbidden"


def test_404_for_an_unknown_path_has_the_error_shape(client):
    assert error_of(client.get("/api/v1/no-such-thing"), 404)["code"] == "not_found"


def test_405_has_the_error_shape_and_names_the_allowed_methods(client):
    response = client.delete("/api/v1/users/1")

    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "PATCH"}


def test_500_has_the_error_shape_and_hides_the_exception(database_url, caplog):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/test-only/boom")

    error = error_of(response, 500)
    assert error["code"] == "internal_error"
    assert "hunter2" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert "hunter2" in caplog.text  # logged on the server, for the engineers
