"""/docs works without internet: every asset comes from the service itself, and the OpenAPI
document declares the `Authorization: Key=…` scheme so "Try it out" can send a key."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.processes import serve_environment, serving
from tests.support import TestDb

ENDPOINT = "/vicidial/leads/archive"


async def test_docs_assets_are_served_locally_and_try_it_out_can_send_a_key(
    databases: dict[str, TestDb], tmp_path: Path
) -> None:
    env, _, http_port = serve_environment(databases["InnoDB"].db.url.url())
    base = f"http://127.0.0.1:{http_port}"
    async with serving(env, tmp_path / "serve.log"), httpx.AsyncClient(base_url=base) as http:
        for page in ("/docs", "/redoc"):
            html = (await http.get(page)).text
            assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
            assert any(asset.endswith(".js") for asset in assets), html
            for asset in assets:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                response = await http.get(asset)
                assert response.status_code == 200, asset
                assert len(response.content) > 100, asset
        document = (await http.get("/openapi.json")).json()
        key = "Key=not-a-real-key-0123456789"
        # What Swagger UI sends for the apiKey scheme: the header, as typed.
        tried = await http.post(ENDPOINT, json={}, headers={"Authorization": key})
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert "Key=" in document["components"]["securitySchemes"]["ApiKey"]["description"]
    operation = document["paths"][ENDPOINT]["post"]
    assert operation["security"] == [{"ApiKey": []}]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "500"}
    assert (tried.status_code, tried.json()) == (401, {"message": "unable to validate api user"})
