"""Printable shelf labels for a store: `GET /v1/stores/{code}/labels?skus=...&format=svg|pdf`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import PathParameter, QueryParameter

from commerce.auth.guards import allow, ensure_store
from commerce.auth.schemas import Principal
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.inventory.rules import parse_codes
from commerce.openapi import STREAMED
from commerce.pages import label_sheet, links, service

MAX_LABELS = 500
LabelFormat = Literal["svg", "pdf"]
MEDIA_TYPES: dict[LabelFormat, str] = {"svg": "image/svg+xml", "pdf": "application/pdf"}

# The 200 answer is an SVG or PDF document, not JSON.
STREAMED["/v1/stores/{code}/labels"] = tuple(MEDIA_TYPES.values())


class LabelController(Controller):
    path = "/v1/stores"
    tags = ["Associates"]

    @get(
        "/{code:str}/labels",
        guards=[allow("associate")],
        summary="Printable shelf labels",
        description="One label per SKU, in the order given, on US Letter sheets of 4 x 2 inch labels (10 a sheet): "
        "title, price (the regular price struck through when a public promotion applies in store), SKU and a QR "
        "code of the GS1 Digital Link `/01/{gtin}?store={code}` (the store's product page when the barcode is not "
        f"a GTIN). At most {MAX_LABELS} SKUs; an unknown SKU is 404 naming it, and so is a warehouse (it has no "
        "shelves for shoppers). `format=svg` (default) or `pdf`.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def labels(
        self,
        db: Db,
        state: State,
        request: Request[Principal, Any, Any],
        code: Annotated[str, PathParameter(min_length=1, max_length=64)],
        skus: Annotated[str, QueryParameter(min_length=1, description="Comma-separated SKUs")],
        format: Annotated[LabelFormat, QueryParameter(description="svg (default) or pdf")] = "svg",
    ) -> Response[bytes]:
        ensure_store(request.user, code)
        wanted = parse_codes(skus, "skus", MAX_LABELS)
        base = links.public_base(state.settings.public_url, request)
        labels = await service.shelf_labels(db, code, wanted, now=datetime.now(UTC), base=base)
        # A sheet takes a few hundred milliseconds of CPU: off the event loop, so other requests go on.
        if format == "pdf":
            body = await anyio.to_thread.run_sync(lambda: label_sheet.pdf_sheet(labels, title=f"Shelf labels, {code}"))
        else:
            body = await anyio.to_thread.run_sync(label_sheet.svg_sheet, labels)
        return Response(
            body,
            media_type=MEDIA_TYPES[format],
            headers={
                "Content-Disposition": f'inline; filename="labels-{code}.{format}"',
                "Cache-Control": "private, no-store",
            },
        )
