"""Schemathesis fuzzes the API in process from the OpenAPI document it serves, signed in as a user admin.

Every operation gets generated requests, valid and invalid ones; each answer must not be a 5xx and must
match the document: a documented status, a documented content type, a body that fits its schema.
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ops_api.api.openapi import spec

from api_support import bearer

# Requests per operation and database: enough to reach each bound, and the whole run stays within seconds.
EXAMPLES = 60

# The only 5xx the API documents is 503 (the health probe's stale job, or no token secret configured);
# any other 5xx, and a 503 where none is documented, is a failure.
DOCUMENTED_503 = {
    (method.upper(), path)
    for path, item in spec()["paths"].items()
    for method, operation in item.items()
    if "503" in operation["responses"]
}


def no_undocumented_server_error(ctx, response, case):
    if response.status_code >= 500 and not (
        response.status_code == 503 and (case.operation.method.upper(), case.operation.path) in DOCUMENTED_503
    ):
        raise AssertionError(f"{response.status_code} from {case.operation.method.upper()} {case.operation.path}")
    return None


CHECKS = [no_undocumented_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Logging out would end the session the fuzzing runs on; the logout route has its own tests.
    schema = schema.exclude(path="/auth/logout")
    return [result.ok() for result in schema.get_all_operations()]


def aimed_at(strategy, user_ids):
    """Cases of ``strategy`` whose user_id is, half the time, a user who exists (else almost every one is a 404)."""

    def aim(pair):
        case, user_id = pair
        if user_id is not None and case.path_parameters:
            case.path_parameters["user_id"] = user_id
        return case

    return st.tuples(strategy, st.sampled_from([None, None, *user_ids])).map(aim)


def test_no_request_gets_a_server_error_or_an_undocumented_answer(app, fakeauth, user_admin, person, admin_token):
    tried = []
    for operation in operations(app):
        strategy = operation.as_strategy()
        if "{user_id}" in operation.path:
            strategy = aimed_at(strategy, [person.id, user_admin.id])

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def fuzz(case):
            case.call_and_validate(headers=bearer(admin_token), checks=CHECKS)

        fuzz()
        tried.append(operation.label)

    assert len(tried) >= 9, tried
