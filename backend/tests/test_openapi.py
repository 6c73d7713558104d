"""The served OpenAPI description stays true to the application's routes."""

import re

from ops_api.api.openapi import SCHEMAS
from ops_api.api.users import PATCH_FIELDS

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


def test_the_patch_schema_lists_exactly_the_fields_the_view_accepts():
    assert set(SCHEMAS["UserPatch"]["properties"]) == PATCH_FIELDS
