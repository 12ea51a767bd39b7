"""TLS on the gRPC port and on the shim's channel: real handshakes with test-made certificates."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from lead_archive_rest_shim.upstream import UpstreamTls
from lead_archive_server.runtime.settings import SettingsError, load_settings
from vicidial.leads.v1 import lead_archive_pb2 as pb
from vicidial.leads.v1 import lead_archive_pb2_grpc as pb_grpc

from tests.support import TestDb
from tests.support_ops import archive_body, ops_stack
from tests.support_tls import TestCerts, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TestCerts:
    return make_certs(tmp_path_factory.mktemp("tls"))


def tls_settings(certs: TestCerts) -> dict[str, str]:
    return {"grpc_tls_cert": str(certs.cert), "grpc_tls_key": str(certs.key)}


async def test_grpc_serves_tls_and_the_shim_reaches_it(tdb: TestDb, certs: TestCerts) -> None:
    ids = await tdb.seed(2)
    trusted = grpc.ssl_channel_credentials(root_certificates=certs.ca_bytes())
    async with ops_stack(
        tdb,
        channel_credentials=trusted,
        upstream_tls=UpstreamTls(certs.ca_bytes()),
        **tls_settings(certs),
    ) as stack:
        reply = await stack.archive_call(ids[:1])  # the test's own TLS channel
        response = await stack.post(ids[1:])  # HTTP → shim → TLS → gRPC
    assert reply.delete_count == 1
    assert response.status_code == 200, response.text
    assert response.json()["delete_count"] == 1


async def test_plaintext_and_untrusted_clients_are_refused(tdb: TestDb, certs: TestCerts) -> None:
    ids = await tdb.seed(1)
    async with ops_stack(tdb, **tls_settings(certs)) as stack:
        target = f"127.0.0.1:{stack.grpc_port}"
        untrusted = grpc.ssl_channel_credentials(root_certificates=certs.other_ca.read_bytes())
        for channel in (
            grpc.aio.insecure_channel(target),
            grpc.aio.secure_channel(target, untrusted),
        ):
            async with channel:
                stub = pb_grpc.LeadArchiveServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await stub.ArchiveLeads(request(ids), metadata=stack.auth, timeout=5)
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        # The shim without TLS towards a TLS port cannot work either.
        response = await stack.post(ids)
    assert response.status_code == 500
    assert response.json()["message"] == "archive service unavailable"
    assert await tdb.count("vicidial_list") == 1


def request(ids: list[int]) -> pb.ArchiveLeadsRequest:
    return pb.ArchiveLeadsRequest(**archive_body(ids))


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LEAD_ARCHIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEAD_ARCHIVE_ASTGUICLIENT_CONF", "/nonexistent/astguiclient.conf")


def test_one_pair_serves_both_ports_unless_a_port_has_its_own(
    clean_environment: None, certs: TestCerts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEAD_ARCHIVE_TLS_CERT", str(certs.cert))
    monkeypatch.setenv("LEAD_ARCHIVE_TLS_KEY", str(certs.key))
    settings = load_settings()
    assert settings.grpc.tls == settings.http.tls == (str(certs.cert), str(certs.key))
    own = make_certs(tmp_path)
    monkeypatch.setenv("LEAD_ARCHIVE_HTTP_TLS_CERT", str(own.cert))
    monkeypatch.setenv("LEAD_ARCHIVE_HTTP_TLS_KEY", str(own.key))
    settings = load_settings()
    assert settings.http.tls == (str(own.cert), str(own.key))
    assert settings.grpc.tls == (str(certs.cert), str(certs.key))


def test_no_certificate_means_plaintext(clean_environment: None) -> None:
    settings = load_settings()
    assert settings.grpc.tls is None
    assert settings.http.tls is None


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"TLS_CERT": "{cert}"}, "LEAD_ARCHIVE_GRPC_TLS_CERT/KEY: a key is needed too"),
        ({"HTTP_TLS_KEY": "{key}"}, "LEAD_ARCHIVE_HTTP_TLS_CERT/KEY: a certificate is needed"),
        ({"TLS_CERT": "{key}", "TLS_KEY": "{key}"}, "LEAD_ARCHIVE_GRPC_TLS_CERT/KEY: cannot load"),
        ({"TLS_CERT": "/nope.pem", "TLS_KEY": "{key}"}, "cannot load '/nope.pem'"),
        ({"UPSTREAM_CA": "/nope.pem"}, "LEAD_ARCHIVE_UPSTREAM_CA: no such file"),
    ],
)
def test_bad_tls_settings_stop_start_up_with_one_line(
    clean_environment: None,
    certs: TestCerts,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    says: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(f"LEAD_ARCHIVE_{name}", value.format(cert=certs.cert, key=certs.key))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert says in str(raised.value)
    assert "\n" not in str(raised.value)
