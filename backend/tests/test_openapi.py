"""The served OpenAPI description stays true to the application's routes and to the schemas that check requests."""

import re

from openapi_spec_validator import validate

from ops_api.api.schemas import MAX_ID, UserPatchSchema

DOCUMENTED_PREFIXES = ("/api/v1", "/auth")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app):
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED_PREFIXES):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(set(rule.methods) - IGNORED_METHODS)
    return routes


def _documented(spec):
    return {path: {method.upper() for method in item} for path, item in spec["paths"].items()}


def test_the_description_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def test_every_route_is_described_and_every_description_is_a_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()

    assert _documented(spec) == _routes(app)


def test_every_operation_documents_its_answers_and_errors_use_the_error_schema(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_schema_reference_resolves(client):
    text = client.get("/api/v1/openapi.json").get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()

    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in spec["components"]["schemas"]


def test_the_patch_schema_lists_exactly_the_fields_the_view_accepts(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    patch = spec["components"]["schemas"]["UserPatch"]
    assert set(patch["properties"]) == {field.data_key or name for name, field in UserPatchSchema().fields.items()}
    assert patch["additionalProperties"] is False
    assert patch["minProperties"] == 1


def test_the_served_description_is_a_valid_openapi_document(client):
    validate(client.get("/api/v1/openapi.json").get_json())


def _parameter(spec, path, name):
    (found,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
    return found


def test_the_description_states_the_bounds_the_server_enforces(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    patch = spec["components"]["schemas"]["UserPatch"]["properties"]

    assert patch["first_name"]["maxLength"] == 255
    assert patch["email"]["maxLength"] == 255 and patch["email"]["format"] == "email"
    assert patch["reason"]["maxLength"] == 1000
    assert patch["status"]["enum"] == ["ACTIVE", "INACTIVE", "LOCKED"]
    assert patch["roles"]["maxItems"] == len(patch["roles"]["items"]["enum"])
    assert _parameter(spec, "/api/v1/users/", "inactive_for_days")["schema"] == {
        "type": "integer", "minimum": 0, "maximum": 36500,
    }
    assert _parameter(spec, "/api/v1/users/inactive", "days")["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 36500,
    }
    assert _parameter(spec, "/api/v1/reports/deactivations", "format")["schema"]["enum"] == ["json", "html"]
    assert _parameter(spec, "/api/v1/reports/deactivations", "from")["required"] is True
    (user_id,) = spec["paths"]["/api/v1/users/{user_id}"]["get"]["parameters"]
    assert user_id["schema"]["maximum"] == MAX_ID
