"""Input an attacker would send gets a documented 4xx in the error shape, never a 500, and changes nothing."""

import pytest

from ops_api import create_app
from ops_api.config import MAX_CONTENT_LENGTH, ConfigError
from ops_api.models import UserStatus

from api_support import bearer, error_of
from factories import event_and_history_counts

THOUSANDS_OF_DIGITS = "9" * 5000


@pytest.mark.parametrize(
    "path", ["/api/v1/users", "/api/v1/users/1", "/api/v1/users/me", "/api/v1/reports/deactivations", "/auth/logout"]
)
def test_options_answers_the_allowed_methods_without_a_token(client, path):
    response = client.options(path)

    assert response.status_code == 200
    assert "OPTIONS" in response.headers["Allow"]


@pytest.mark.parametrize("user_id", [2**31, 2**63, int(THOUSANDS_OF_DIGITS[:40])])
@pytest.mark.parametrize("method", ["get", "patch"])
def test_an_id_beyond_the_columns_range_is_a_404(client, admin_token, method, user_id):
    response = getattr(client, method)(
        f"/api/v1/users/{user_id}", headers=bearer(admin_token), json={"first_name": "X"}
    )

    assert error_of(response, 404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "Ri\x00ta"}, "first_name"),
        ({"last_name": "\ud800"}, "last_name"),
        ({"email": "a\x00@example.gov"}, "email"),
        ({"status": "INACTIVE", "reason": "gone\udfff"}, "reason"),
        ({"first_name": "x" * 256}, "first_name"),
        ({"status": "INACTIVE", "reason": "r" * 1001}, "reason"),
        ({"roles": ["VIEWER_EDITOR"] * 9}, "roles"),
        ({"status": "INACTIVE\x00"}, "status"),
    ],
)
def test_strings_that_cannot_be_stored_or_break_a_bound_are_a_400(client, session, person, admin_token, body, field):
    before = event_and_history_counts(session)

    response = client.patch(f"/api/v1/users/{person.id}", headers=bearer(admin_token), json=body)

    error = error_of(response, 400)
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {field}
    session.expire_all()
    assert person.status is UserStatus.ACTIVE
    assert person.first_name == "Person"
    assert event_and_history_counts(session) == before


@pytest.mark.parametrize(
    "data",
    [
        '{"first_name": ' + THOUSANDS_OF_DIGITS + "}",
        '{"first_name": 1e' + THOUSANDS_OF_DIGITS + "}",
        "[" * 20_000 + "]" * 20_000,
        '{"roles": ' + "[" * 20_000 + "]" * 20_000 + "}",
    ],
    ids=["long-integer", "huge-exponent", "deep-array", "deep-field"],
)
def test_huge_numbers_and_deep_nesting_are_a_400(client, person, admin_token, data):
    response = client.patch(
        f"/api/v1/users/{person.id}",
        headers={**bearer(admin_token), "Content-Type": "application/json"},
        data=data,
    )

    assert error_of(response, 400)["code"] in {"bad_request", "validation_error"}


def test_a_deeply_nested_login_body_is_a_400(client, fakeauth):
    response = client.post("/auth/login", data="[" * 20_000, headers={"Content-Type": "application/json"})

    assert error_of(response, 400)["code"] == "bad_request"


@pytest.mark.parametrize(
    "query",
    [
        f"inactive_for_days={THOUSANDS_OF_DIGITS}",
        "inactive_for_days=%00",
        "inactive_for_days=-1",
        "status=ACTIVE%00",
    ],
)
def test_bad_list_filters_are_a_400(client, admin_token, query):
    error = error_of(client.get(f"/api/v1/users?{query}", headers=bearer(admin_token)), 400)

    assert error["code"] == "validation_error"


@pytest.mark.parametrize(
    "query",
    [
        f"days={THOUSANDS_OF_DIGITS}",
        "days=36501",
        "as_of=9999-12-31T23:59:59-23:59",
        "as_of=0001-01-01T00:00:00%2B23:59",
        "as_of=%00",
        "as_of=9999-12-31",
    ],
)
def test_bad_preview_parameters_are_a_400(client, admin_token, query):
    error = error_of(client.get(f"/api/v1/users/inactive?{query}", headers=bearer(admin_token)), 400)

    assert error["code"] == "validation_error"


@pytest.mark.parametrize(
    "query",
    [
        "from=9999-12-31&to=9999-12-31",
        "from=0001-01-01&to=0001-01-02",
        "from=0001-01-01T00:00%2B01:00&to=2026-01-01",
        "from=2026-01-01&to=2026-01-02T00:00:00-23:59&as_of=9999-12-31T23:59:59-23:59",
        f"from={THOUSANDS_OF_DIGITS}&to=2026-01-01",
        "from=2026-01-01%00&to=2026-01-02",
    ],
)
def test_report_bounds_at_the_ends_of_the_calendar_are_a_400_or_a_report(client, admin_token, query):
    response = client.get(f"/api/v1/reports/deactivations?{query}", headers=bearer(admin_token))

    if response.status_code != 200:
        assert error_of(response, 400)["code"] == "validation_error"


def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape(client, person, admin_token):
    body = '{"first_name": "' + "x" * MAX_CONTENT_LENGTH + '"}'

    response = client.patch(
        f"/api/v1/users/{person.id}",
        headers={**bearer(admin_token), "Content-Type": "application/json"},
        data=body,
    )

    assert error_of(response, 413)["code"] == "payload_too_large"


def test_a_login_body_over_the_size_limit_is_a_413(client, fakeauth):
    response = client.post(
        "/auth/login", data="{" + " " * MAX_CONTENT_LENGTH + "}", headers={"Content-Type": "application/json"}
    )

    assert error_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1e6", "9" * 5000, str(10**9)])
def test_an_unusable_size_limit_stops_the_app_in_one_line(database_url, value):
    with pytest.raises(ConfigError) as caught:
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "ENV_NAME": "test", "MAX_CONTENT_LENGTH": value})

    assert "OPS_MAX_CONTENT_LENGTH" in str(caught.value)
    assert "9" * 100 not in str(caught.value)
