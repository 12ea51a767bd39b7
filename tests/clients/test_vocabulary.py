"""The API's vocabulary: one table for every gRPC code, one problem for every reason."""

from __future__ import annotations

import grpc
import pytest
from lead_archive_client.vocabulary import (
    HTTP_STATUS,
    PROBLEMS,
    SERVICE_NAME,
    Reason,
    request_id_or_new,
)

DOCUMENTED = {200, 400, 401, 403, 500}
EXPECTED_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
}


def test_every_grpc_code_is_in_the_table() -> None:
    missing = {code.name for code in grpc.StatusCode} - set(HTTP_STATUS)
    assert not missing, f"unmapped gRPC codes: {sorted(missing)}"
    assert set(HTTP_STATUS) <= {code.name for code in grpc.StatusCode}  # no typo among them


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_every_grpc_code_maps_to_a_documented_status(code: grpc.StatusCode) -> None:
    assert HTTP_STATUS[code.name] == EXPECTED_STATUS.get(code, 500)
    assert HTTP_STATUS[code.name] in DOCUMENTED


def test_every_reason_is_upper_snake_and_has_a_problem_with_a_real_code() -> None:
    assert set(PROBLEMS) == set(Reason)
    for reason in Reason:
        assert reason.value == reason.name and reason.value.isupper()
        assert grpc.StatusCode[PROBLEMS[reason].code]  # a KeyError for a misspelt code


def test_the_service_name_is_the_protos() -> None:
    from vicidial.leads.v1 import lead_archive_pb2 as pb

    proto = pb.DESCRIPTOR.services_by_name["LeadArchiveService"].full_name
    assert proto == SERVICE_NAME


def test_the_vocabulary_needs_no_transport() -> None:
    """The core imports the vocabulary and must still know no transport."""
    import subprocess
    import sys

    code = (
        "import sys, lead_archive_client.vocabulary as v; "
        "print(sorted(m for m in ('grpc', 'vicidial') if m in sys.modules))"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr


def test_the_contract_messages_are_the_documents() -> None:
    assert PROBLEMS[Reason.LEAD_IDS_EMPTY].message == "lead_ids must contain atleast 1 value"
    assert PROBLEMS[Reason.LEAD_IDS_TOO_MANY].message == "lead_ids cannot exceed 500 values"
    assert PROBLEMS[Reason.API_KEY_INVALID].code == grpc.StatusCode.UNAUTHENTICATED.name


@pytest.mark.parametrize("candidate", ["batch-7", "a" * 50, "x.y:z_1"])
def test_a_safe_request_id_is_kept(candidate: str) -> None:
    assert request_id_or_new(candidate) == candidate


@pytest.mark.parametrize("candidate", [None, "", "a" * 51, "two words", "tab\there", "é"])
def test_anything_else_gets_a_fresh_id(candidate: str | None) -> None:
    fresh = request_id_or_new(candidate)
    assert fresh != candidate and len(fresh) == 32
