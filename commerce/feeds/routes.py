from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import QueryParameter
from litestar.response import Stream

from commerce.auth.guards import allow
from commerce.errors import problem_responses
from commerce.feeds.schemas import FeedFormat
from commerce.feeds.service import stream_local_inventory
from commerce.openapi import STREAMED
from commerce.pages.links import public_base
from commerce.settings import Settings

MEDIA_TYPES: dict[str, str] = {
    "ndjson": "application/x-ndjson",
    "tsv": "text/tab-separated-values",  # Litestar adds `; charset=utf-8` to text/ types
}


STREAMED["/v1/feeds/local-inventory"] = ("application/x-ndjson", "text/tab-separated-values")


class FeedController(Controller):
    path = "/v1/feeds"
    tags = ["Feeds"]
    guards = [allow("ads")]

    @get(
        "/local-inventory",
        summary="Local-inventory feed for ad systems",
        response_description="One row per line: NDJSON, or TSV (text/tab-separated-values) with `format=tsv`",
        description="One row per (store, sku) of every store (warehouses are not local inventory): `store_code, id "
        '(sku), quantity (available), price (e.g. "19.99 USD"), availability (in_stock | limited_availability '
        "| out_of_stock), pickup_method (buy | not supported), pickup_sla (same day | next day | N-day | "
        "multi-week; empty without pickup), link_template (the store's product page with `{store_code}`, from "
        "COMMERCE_PUBLIC_URL)`. NDJSON by default, TSV with a header row with `format=tsv` "
        "(tabs, newlines and backslashes escaped as \\t, \\n, \\\\). Streamed in store, sku order.",
        responses=problem_responses(401, 403, 422),
    )
    async def local_inventory(
        self,
        state: State,
        request: Request[Any, Any, Any],
        format: Annotated[FeedFormat, QueryParameter(description="ndjson (default) or tsv")] = "ndjson",
    ) -> Stream:
        settings: Settings = state.settings
        # A long read: from the replica when there is one that answers (replica.py).
        engine = await state.replica.engine_for_stream(state.engine) if state.replica else state.engine
        rows = stream_local_inventory(
            engine,
            format,
            low_stock_threshold=settings.low_stock_threshold,
            base=public_base(settings.public_url, request),
        )
        return Stream(rows, media_type=MEDIA_TYPES[format])
