from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import JSONBody

from commerce.auth.guards import allow
from commerce.auth.schemas import Principal
from commerce.db import Db
from commerce.errors import created_response, problem_responses
from commerce.idempotency import IdempotencyKey, idempotent
from commerce.promotions import codes, service
from commerce.promotions.schemas import CodesIn, CodesOut, PromotionIn, PromotionOut
from commerce.schemas import IdPath
from commerce.settings import Settings

PromotionIdPath = IdPath


class PromotionController(Controller):
    path = "/v1/promotions"
    tags = ["Promotions"]
    guards = [allow("admin")]

    @put(
        "/{promotion_id:str}",
        summary="Create or replace a promotion",
        description="`percent_off`: `value` is a whole percent (1..100), no `currency`. `amount_off`: `value` is "
        "integer minor units off each unit, with `currency`. A percent above the configured ceiling (default 50) or "
        "an amount above the price of an item it applies to is 422 `discount_guardrail` unless "
        "`override_guardrail: {reason}` is sent; the override (reason, key, time) is recorded and returned. "
        "Codes are case-insensitive and unique (409 `code_taken`). A killed promotion stays killed.",
        responses={**created_response(PromotionOut), **problem_responses(401, 403, 409, 422)},
    )
    async def upsert_promotion(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        promotion_id: PromotionIdPath,
        data: JSONBody[PromotionIn],
    ) -> Response[PromotionOut]:
        settings: Settings = request.app.state.settings
        promotion, created = await service.upsert_promotion(
            db,
            promotion_id,
            data,
            who=request.user.key_id,
            ceiling_percent=settings.discount_ceiling_percent,
            now=datetime.now(UTC),
        )
        return Response(promotion, status_code=201 if created else 200)

    @get("/{promotion_id:str}", summary="One promotion", responses=problem_responses(401, 403, 404))
    async def get_promotion(self, db: Db, promotion_id: PromotionIdPath) -> PromotionOut:
        return await service.get_promotion(db, promotion_id, datetime.now(UTC))

    @post(
        "/{promotion_id:str}/kill",
        summary="Switch a promotion off at once",
        description="Every cart reprices without it on its next read. Killing twice changes nothing.",
        status_code=200,
        responses=problem_responses(401, 403, 404),
    )
    async def kill_promotion(self, db: Db, promotion_id: PromotionIdPath) -> PromotionOut:
        return await service.kill_promotion(db, promotion_id, datetime.now(UTC))

    @post(
        "/{promotion_id:str}/codes",
        summary="Make single-use codes",
        description="`{count, prefix?}`: up to 10,000 random codes (80 random bits each, after the prefix) in one call, "
        "returned only here. Each is redeemable by one order in all (given back if that order is cancelled or "
        "expires). From now on the promotion prices only carts carrying one of its codes (or its own `code`). "
        "Adding a used or unknown code to a cart is 422 (`code_used`, `invalid_code`); a checkout whose code another "
        "order redeemed first is 409 `code_used`. Accepts `Idempotency-Key`.",
        status_code=201,
        responses={**created_response(CodesOut), **problem_responses(401, 403, 404, 409, 422)},
    )
    async def create_codes(
        self,
        db: Db,
        request: Request[Principal, Any, Any],
        promotion_id: PromotionIdPath,
        data: JSONBody[CodesIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[CodesOut]:
        return await idempotent(
            db, request, idempotency_key, lambda: codes.create_codes(db, promotion_id, data), status_code=201
        )
