"""Reading `GET /metrics` in tests: the exposition parsed into {(name, labels): value}."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    r = await client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-type"].count("charset") == 1, r.headers["content-type"]
    return parse(r.text)


def value(samples: Samples, name: str, **labels: Any) -> float:
    """The sample's value; 0 when it is not there yet (a counter nobody incremented)."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())), 0.0)
