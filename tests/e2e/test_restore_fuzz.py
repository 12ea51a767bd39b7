"""schemathesis against the restore endpoint of the shim's OpenAPI document (CONTRACT 8).

Every generated request (with a valid key) gets a documented status with the documented
body; a restore answers 200 with exactly its four fields, never 403 (office hours do not
apply), and changes no table unless it was a 200.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, status_code_conformance

from tests.e2e.fuzz_support import Served, assert_documented

RESTORE_200_KEYS = {"message", "select_count", "insert_count", "delete_count"}


def test_every_generated_restore_gets_a_documented_answer(serve_process: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{serve_process.url}/openapi.json")
    operation = schema["/vicidial/leads/restore"]["POST"]
    statuses: set[int] = set()

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    def check(case: Any) -> None:
        before = serve_process.snapshot()
        response = case.call(headers={"Authorization": f"Key={serve_process.key}"}, timeout=30)
        case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
        body = response.json()
        if response.status_code == 200:
            assert set(body) == RESTORE_200_KEYS, body
            assert all(
                type(body[k]) is int and body[k] >= 0 for k in RESTORE_200_KEYS - {"message"}
            )
        else:
            assert response.status_code != 403, body
            assert_documented(response.status_code, body)
            assert serve_process.snapshot() == before
        statuses.add(response.status_code)

    check()
    assert statuses >= {400}, statuses
