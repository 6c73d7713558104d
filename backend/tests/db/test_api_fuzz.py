"""Schemathesis fuzzes the API in process from the OpenAPI document it serves, signed in as a user admin.

Every operation gets generated requests, some that fit the document and some that break it; each answer
must not be a 5xx and must match the document: a documented status, a documented content type, a body that
fits its schema. And the server must accept those that fit it (Schemathesis's positive data acceptance): a
400 is allowed only when it is one of the refusals the document gives as examples of that answer (a business
rule, such as changing one's own status), never a validation error the document did not warn of.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
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


def documented_refusals(method, path, status):
    """The errors the document gives as examples of this answer: the refusals a request that fits it can meet."""
    answer = spec()["paths"][path][method.lower()]["responses"].get(str(status), {})
    examples = answer.get("content", {}).get("application/json", {}).get("examples", {})
    return [example["value"]["error"] for example in examples.values()]


def is_documented_refusal(error, refusals):
    """Whether ``error`` is one of ``refusals`` (or several at once): its code, and each field's problems."""
    same_code = [refusal for refusal in refusals if refusal["code"] == error["code"]]
    if not error["fields"]:
        return any(not refusal["fields"] for refusal in same_code)
    return all(
        any(set(problems) <= set(refusal["fields"].get(name, [])) for refusal in same_code)
        for name, problems in error["fields"].items()
    )


def accepted_unless_a_documented_refusal(ctx, response, case):
    """Schemathesis's positive data acceptance, less the refusals the document explains."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        refusals = documented_refusals(case.operation.method, case.operation.path, response.status_code)
        if refusals and is_documented_refusal(response.json()["error"], refusals):
            return None
        raise


CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    accepted_unless_a_documented_refusal,
]


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


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["fitting", "breaking"])
def test_no_request_gets_a_server_error_an_undocumented_answer_or_an_unexplained_refusal(
    app, fakeauth, user_admin, person, admin_token, mode
):
    tried = []
    for operation in operations(app):
        strategy = operation.as_strategy(generation_mode=mode)
        if "{user_id}" in operation.path:
            strategy = aimed_at(strategy, [person.id, user_admin.id])

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def fuzz(case):
            case.call_and_validate(headers=bearer(admin_token), checks=CHECKS)

        fuzz()
        tried.append(operation.label)

    assert len(tried) >= 9, tried


def test_a_refusal_counts_as_documented_only_with_its_code_and_each_fields_problem():
    refusals = documented_refusals("PATCH", "/api/v1/users/{user_id}", 400)
    taken = {"email": ["another user has this e-mail address"]}

    assert is_documented_refusal({"code": "validation_error", "fields": taken}, refusals)
    assert is_documented_refusal({"code": "invalid_status_change", "fields": {}}, refusals)
    assert not is_documented_refusal({"code": "bad_request", "fields": taken}, refusals)
    assert not is_documented_refusal({"code": "validation_error", "fields": {"email": ["must be an e-mail address"]}}, refusals)
    assert not is_documented_refusal({"code": "validation_error", "fields": {}}, refusals)
