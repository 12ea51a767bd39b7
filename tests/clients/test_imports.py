"""What importing the client costs: a gRPC caller does not load the REST half."""

from __future__ import annotations

import subprocess
import sys


def test_the_rest_clients_load_httpx_only_when_named() -> None:
    """A gRPC caller (the bulk command's start-up) does not import httpx."""
    probe = (
        "import sys, lead_archive_client; before = 'httpx' in sys.modules; "
        "from lead_archive_client import AsyncRestLeadArchiveClient, RestLeadArchiveClient; "
        "print(before, 'httpx' in sys.modules, RestLeadArchiveClient.__name__)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert shown.split() == ["False", "True", "RestLeadArchiveClient"]


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import lead_archive_client

    try:
        lead_archive_client.NoSuchClient  # noqa: B018
    except AttributeError as error:
        assert "NoSuchClient" in str(error)
    else:
        raise AssertionError("an unknown name was found")
