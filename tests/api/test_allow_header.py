"""`Allow` lists every method a resource answers, on OPTIONS and on 405."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ADMIN


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/v1/stores/S1", {"GET", "PUT", "OPTIONS"}),
        ("/v1/carts/c/lines/1", {"PATCH", "DELETE", "OPTIONS"}),
        ("/v1/webhooks/w", {"GET", "PUT", "DELETE", "OPTIONS"}),
        ("/v1/customers", {"GET", "POST", "OPTIONS"}),
    ],
)
async def test_options_and_405_list_every_method(client: httpx.AsyncClient, path: str, methods: set[str]) -> None:
    r = await client.options(path, headers=ADMIN)
    assert r.status_code == 204
    assert {m.strip() for m in r.headers["allow"].split(",")} == methods
    r = await client.request("TRACE", path, headers=ADMIN)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert {m.strip() for m in r.headers["allow"].split(",")} == methods
