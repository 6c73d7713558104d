"""The served OpenAPI description stays true to the application's routes, to the schemas that check requests,
and to the refusals the server gives; it is complete enough for linters and client generators."""

import json
import re
import uuid
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from ops_api.api.openapi import TAGS, UNDOCUMENTED_ALIASES, spec
from ops_api.api.schemas import INSTANT_PATTERN, LOGIN_BODIES, MAX_ID, Duration, UserPatchSchema
from ops_api.models import Role, UserStatus
from ops_api.services.job.job_runs import parse_duration
from ops_api.services.users.sign_in import enabled_providers
from ops_api.services.users.user_deactivation import EARLIEST_AS_OF, LATEST_AS_OF

from api_support import bearer
from cli_runner import invoke
from factories import make_user

DOCUMENTED_PREFIXES = ("/api/v1", "/auth")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app):
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED_PREFIXES):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(set(rule.methods) - IGNORED_METHODS)
    return routes


def _documented(document):
    return {path: {method.upper() for method in item} for path, item in document["paths"].items()}


def _operations(document):
    return [(method, path, operation) for path, item in document["paths"].items() for method, operation in item.items()]


def test_the_description_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_every_route_is_described_and_every_description_is_a_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    routes = _routes(app)

    for alias, path in UNDOCUMENTED_ALIASES.items():
        assert routes.pop(alias) == routes[path]
    assert _documented(document) == routes


def test_the_list_answers_the_same_at_its_old_address_with_the_trailing_slash(client, person, admin_token):
    for query in ("", "?status=ACTIVE&inactive_for_days=0", "?status=asleep"):
        documented = client.get(f"/api/v1/users{query}", headers=bearer(admin_token))
        old = client.get(f"/api/v1/users/{query}", headers=bearer(admin_token))

        assert (old.status_code, old.get_json()) == (documented.status_code, documented.get_json())
    assert old.status_code == 400
    assert client.get("/api/v1/users/").status_code == 401


def test_no_documented_path_ends_in_a_slash():
    assert [path for path in spec()["paths"] if path.endswith("/")] == []


def test_every_operation_has_a_unique_id_a_summary_a_description_and_a_declared_tag():
    declared_tags = {tag["name"] for tag in TAGS}
    operations = _operations(spec())

    for method, path, operation in operations:
        assert re.fullmatch(r"[a-z][A-Za-z]+", operation["operationId"]), (method, path)
        assert operation["summary"] and operation["description"], (method, path)
        assert operation["tags"] and set(operation["tags"]) <= declared_tags, (method, path)
    assert len({operation["operationId"] for _, _, operation in operations}) == len(operations) == 11


def test_the_description_names_its_licence_and_a_contact():
    info = spec()["info"]

    assert info["license"] == {"name": "CC0-1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}
    assert info["contact"]["url"].startswith("https://")


def test_every_operation_documents_its_answers_and_errors_use_the_error_schema(client):
    document = client.get("/api/v1/openapi.json").get_json()

    for method, path, operation in _operations(document):
        assert operation["responses"], (method, path)
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_schema_reference_resolves(client):
    text = client.get("/api/v1/openapi.json").get_data(as_text=True)
    document = client.get("/api/v1/openapi.json").get_json()

    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in document["components"]["schemas"]


def test_the_patch_schema_lists_exactly_the_fields_the_view_accepts(client):
    document = client.get("/api/v1/openapi.json").get_json()

    patch = document["components"]["schemas"]["UserPatch"]
    assert set(patch["properties"]) == {field.data_key or name for name, field in UserPatchSchema().fields.items()}
    assert patch["additionalProperties"] is False
    assert patch["minProperties"] == 1
    assert patch["dependentRequired"] == {"reason": ["status"]}


def test_the_served_description_is_a_valid_openapi_document(client):
    validate(client.get("/api/v1/openapi.json").get_json())


def test_the_openapi_command_writes_the_served_description(app, client, tmp_path):
    written = tmp_path / "openapi.json"

    result = invoke(app, "openapi", "--output", str(written))

    assert result.exit_code == 0, result.stderr
    assert json.loads(written.read_text()) == client.get("/api/v1/openapi.json").get_json()


def _parameter(document, path, name):
    (found,) = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found


def test_the_description_states_the_bounds_the_server_enforces(client):
    document = client.get("/api/v1/openapi.json").get_json()
    patch = document["components"]["schemas"]["UserPatch"]["properties"]

    assert patch["first_name"]["maxLength"] == 255 and patch["first_name"]["pattern"]
    assert patch["email"]["maxLength"] == 255 and patch["email"]["format"] == "email" and patch["email"]["pattern"]
    assert patch["reason"]["maxLength"] == 1000 and patch["reason"]["pattern"]
    assert patch["status"]["enum"] == ["ACTIVE", "INACTIVE", "LOCKED"]
    assert patch["roles"]["maxItems"] == len(patch["roles"]["items"]["enum"])
    assert _parameter(document, "/api/v1/users", "inactive_for_days")["schema"] == {
        "type": "integer", "minimum": 0, "maximum": 36500,
    }
    assert _parameter(document, "/api/v1/users/inactive", "days")["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 36500,
    }
    assert _parameter(document, "/api/v1/users/inactive", "as_of")["schema"]["pattern"] == INSTANT_PATTERN
    for name in ("from", "to", "as_of"):
        assert _parameter(document, "/api/v1/reports/deactivations", name)["schema"]["pattern"] == INSTANT_PATTERN
    assert _parameter(document, "/api/v1/reports/deactivations", "format")["schema"]["enum"] == ["json", "html"]
    assert _parameter(document, "/api/v1/reports/deactivations", "from")["required"] is True
    max_age = _parameter(document, "/api/v1/health/disable-inactive-users", "max_age")["schema"]
    assert (max_age["pattern"], max_age["maxLength"]) == (Duration.PATTERN.pattern, Duration.MAX_LENGTH)
    (user_id,) = document["paths"]["/api/v1/users/{user_id}"]["get"]["parameters"]
    assert user_id["schema"]["maximum"] == MAX_ID
    login = document["components"]["schemas"]["FakeAuthLogin"]
    assert login["properties"]["provider"]["enum"] == ["fakeauth"] and login["additionalProperties"] is False


def test_every_login_provider_the_server_can_enable_has_a_documented_body():
    assert set(enabled_providers(fakeauth_enabled=True)) == set(LOGIN_BODIES)


@pytest.mark.parametrize(
    ("text", "documented"),
    [
        ("1970-01-01", True),
        ("8999-12-31T23:59:59.123456Z", True),
        ("2026-03-01T09:00:00+01:00", True),
        ("1969-12-31", False),
        ("9000-01-01", False),
        ("2026-03-01t09:00:00z", False),
        ("2026-03-01T23:59:60Z", False),
        ("", False),
    ],
)
def test_the_date_pattern_takes_days_and_date_times_of_the_years_1970_to_8999(text, documented):
    assert (re.search(INSTANT_PATTERN, text) is not None) is documented


def test_the_date_patterns_years_lie_within_the_range_the_server_reads():
    # INSTANT_PATTERN writes its years (1970 to 8999) out: when the range the server reads moves, so must it.
    assert (EARLIEST_AS_OF.isoformat(), LATEST_AS_OF.isoformat()) == ("1970-01-01T00:00:00+00:00", "9000-01-01T00:00:00+00:00")


@given(st.text(alphabet="0123456789smhdSMHDx ", max_size=10))
def test_the_duration_pattern_takes_exactly_what_the_duration_parser_reads_without_blanks(text):
    try:
        parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    documented = len(text) <= Duration.MAX_LENGTH and re.search(Duration.PATTERN.pattern, text) is not None

    assert documented == (parsed and " " not in text)


# -- every refusal the document gives as an example is one the server gives ------------


def _documented_refusals():
    """Each error example in the document: its name, the answer's status and the body."""
    found = {}
    for _, _, operation in _operations(spec()):
        for status, answer in operation["responses"].items():
            for name, example in answer.get("content", {}).get("application/json", {}).get("examples", {}).items():
                assert name not in found, name
                found[name] = (int(status), example["value"])
    return found


def _patch(world, user, body):
    return world.client.patch(f"/api/v1/users/{user.id}", headers=bearer(world.admin_token), json=body)


def _login(world, oidc_id):
    return world.client.post("/auth/login", json={"provider": "fakeauth", "oidc_id": str(oidc_id)})


def _report(world, query):
    return world.client.get(f"/api/v1/reports/deactivations?{query}", headers=bearer(world.admin_token))


def _disabled_provider(world):
    world.app.config["FAKEAUTH_ENABLED"] = False
    return _login(world, world.person.oidc_id)


def _login_with_status(status):
    def provoke(world):
        user = make_user(world.session, status=status)
        world.session.commit()
        return _login(world, user.oidc_id)

    return provoke


def _locked_then_inactive(world):
    assert _patch(world, world.person, {"status": "LOCKED"}).status_code == 200
    return _patch(world, world.person, {"status": "INACTIVE"})


def _missing_role(world):
    world.session.delete(world.session.get(Role, world.roles["READ_ONLY"].id))
    world.session.commit()
    return _patch(world, world.person, {"roles": ["READ_ONLY"]})


PROVOKE = {
    "provider_not_enabled": _disabled_provider,
    "unknown_user": lambda world: _login(world, uuid.uuid4()),
    "account_inactive": _login_with_status(UserStatus.INACTIVE),
    "account_locked": _login_with_status(UserStatus.LOCKED),
    "as_of_out_of_range": lambda world: world.client.get(
        "/api/v1/users/inactive", query_string={"as_of": "1970-01-01T00:30:00+01:00"}, headers=bearer(world.admin_token)
    ),
    "empty_period": lambda world: _report(world, "from=2026-03-02&to=2026-03-01"),
    "period_too_long": lambda world: _report(world, "from=2026-01-01&to=2027-01-02"),
    "as_of_in_the_future": lambda world: _report(world, "from=2026-03-01&to=2026-03-31&as_of=8999-01-01"),
    "own_status": lambda world: _patch(world, world.user_admin, {"status": "LOCKED"}),
    "status_not_reachable": _locked_then_inactive,
    "own_roles": lambda world: _patch(world, world.user_admin, {"roles": ["USER_ADMIN", "READ_ONLY"]}),
    "email_taken": lambda world: _patch(world, world.person, {"email": world.user_admin.email.upper()}),
    "role_not_in_database": _missing_role,
    "system_admin_record": lambda world: _patch(world, world.system_admin, {"first_name": "Sys"}),
}


def test_every_refusal_the_document_gives_as_an_example_has_a_test_that_provokes_it():
    assert set(_documented_refusals()) == set(PROVOKE)


@pytest.fixture
def world(app, client, session, roles, user_admin, person, system_admin, admin_token):
    """Everything a refusal needs: the app, its client, the database, a user admin's token and the users."""
    return SimpleNamespace(
        app=app, client=client, session=session, roles=roles, user_admin=user_admin, person=person,
        system_admin=system_admin, admin_token=admin_token,
    )


@pytest.mark.parametrize("name", sorted(PROVOKE))
def test_the_server_gives_each_documented_refusal_exactly_as_the_document_shows_it(world, name):
    status, body = _documented_refusals()[name]

    response = PROVOKE[name](world)

    assert (response.status_code, response.get_json()) == (status, body)

