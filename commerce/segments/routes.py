from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, put
from litestar.params import FromPath, JSONBody

from commerce.auth.guards import allow, ensure_self
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.db import Db
from commerce.errors import Unprocessable, created_response, problem_responses
from commerce.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from commerce.schemas import IdPath
from commerce.segments import service
from commerce.segments.schemas import MemberOut, ProfileOut, SegmentIn, SegmentOut

SegmentIdPath = IdPath

SEGMENT_DOC = """`rules`: `[{fact, op, value}]`, all must hold. Facts, over every channel (web, mobile, imported
orders, till sales linked to them): `orders_count`, `lifetime_value` (`{amount, currency}`: spend net
of returns in that currency), `days_since_last_order`, `bought_sku`, `bought_category`, `channel_used`,
`store_visited`, `email_consent`, `sms_consent`. Ops: `eq, ne, gt, gte, lt, lte` and `in` (a list). On
the set facts (`bought_sku`, `bought_category`, `channel_used`, `store_visited`) `eq X` means "has X",
`ne X` "has not X", `in [...]` "has any". An unknown fact, an op the fact does not take or a value of the
wrong type is 422 `invalid_rule` with the rule's index (`errors[0].index`). New or changed rules are
backfilled over every customer in batches (`status: backfilling`, then `ready`); from then on membership
follows each order and till sale within seconds."""


class SegmentController(Controller):
    path = "/v1/segments"
    tags = ["Segments"]
    guards = [allow("admin")]

    @put(
        "/{segment_id:str}",
        summary="Create or replace a segment",
        description=SEGMENT_DOC,
        responses={**created_response(SegmentOut), **problem_responses(401, 403, 422)},
    )
    async def put_segment(self, db: Db, segment_id: SegmentIdPath, data: JSONBody[SegmentIn]) -> Response[SegmentOut]:
        segment, created = await service.put_segment(db, segment_id, data)
        return Response(segment, status_code=201 if created else 200)

    @get("/{segment_id:str}", summary="One segment", responses=problem_responses(401, 403, 404))
    async def get_segment(self, db: Db, segment_id: SegmentIdPath) -> SegmentOut:
        return await service.get_segment(db, segment_id)

    @get(
        "/{segment_id:str}/members",
        summary="A segment's members, in customer id order",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def members(
        self, db: Db, segment_id: SegmentIdPath, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[MemberOut]:
        key = decode_cursor(cursor, 1)
        try:
            after = None if key is None else uuid.UUID(str(key[0]))
        except ValueError:
            raise Unprocessable("`cursor` is not one this server issued.", code="invalid_cursor") from None
        items = await service.members(db, segment_id, limit, after)
        return Page(items=items, next_cursor=encode_cursor(str(items[-1].customer_id)) if len(items) == limit else None)


class CustomerProfileController(Controller):
    """What the service knows about a customer across channels."""

    path = "/v1/customers"
    tags = ["Customers"]
    guards = [allow("associate", CUSTOMER)]

    @get(
        "/{customer_id:uuid}/profile",
        summary="The customer's profile across every channel",
        description="Orders (web, mobile, store, imported) and till sales linked to the customer (by loyalty id, email or phone): how many, "
        "spend net of returns, first and last, per channel, the favourite store and the last store visit, and the "
        "segments the customer is in. Kept current as purchases land (orders within seconds). A customer token "
        "reads its own customer's only.",
        responses=problem_responses(401, 403, 404),
    )
    async def profile(
        self, db: Db, request: Request[Principal, Any, Any], customer_id: FromPath[uuid.UUID]
    ) -> ProfileOut:
        ensure_self(request.user, customer_id)
        return await service.profile(db, customer_id)
