"""The REST shim: the documented JSON API in front of the gRPC LeadArchiveService."""

from __future__ import annotations

from lead_archive_rest_shim.main import ChannelFactory, create_app

__all__ = ["ChannelFactory", "create_app"]
