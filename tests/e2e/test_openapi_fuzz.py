"""schemathesis against the shim's own OpenAPI document, served by `lead-archive serve`.

Every generated request (with a valid key) must get a documented status with the documented
body, conform to the document, and change no table unless it was a 200.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, status_code_conformance

from tests.e2e.fuzz_support import Served, assert_documented


def test_every_generated_request_gets_a_documented_answer(serve_process: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{serve_process.url}/openapi.json")
    operation = schema["/vicidial/leads/archive"]["POST"]
    statuses: set[int] = set()

    @settings(
        max_examples=80,
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
        assert_documented(response.status_code, response.json())
        statuses.add(response.status_code)
        if response.status_code != 200:
            assert serve_process.snapshot() == before

    check()
    print(f"\nschemathesis: statuses seen {sorted(statuses)}")
    assert statuses >= {400, 500}, statuses  # documented errors were reached, not just one
