from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.params import JSONBody, PathParameter

from commerce.auth.guards import allow, ensure_store
from commerce.auth.schemas import Principal
from commerce.db import Db
from commerce.errors import problem_responses
from commerce.observability.metrics import count_pos_events
from commerce.pos import service
from commerce.pos.schemas import PosBatchIn, PosBatchResult

StorePath = Annotated[str, PathParameter(min_length=1, max_length=64, description="The store's code")]


class PosController(Controller):
    path = "/v1/pos"
    tags = ["POS sync"]

    @post(
        "/{store:str}/events",
        guards=[allow("pos", "integration")],
        status_code=200,
        summary="Send a batch of till events (sales, returns, counts, receipts)",
        description="1 to 1,000 events; each is applied exactly once per (store, event_id), whatever the "
        "arrival order, and reported `applied`, `duplicate` (already applied, nothing changed) or `rejected` "
        "(with `code` and `detail`; not recorded, so a corrected event may be resent with the same id). "
        "A rejected event never stops the others. A `sale` may take on_hand below zero (noted in the ledger); "
        "a `count` sets on_hand as of `occurred_at`, and events older than a level's latest count do not move it. "
        "A `sale` or `return` may name its shopper: `customer: {email?, phone?, loyalty_id?}` (and `loyalty_id`, "
        "the same as `customer.loyalty_id`), normalised as customers' identifiers are. It joins the purchase "
        "history, profile, segments and ad conversions of the customer holding the loyalty id, else the email, "
        "else the phone; when none does, a customer holding them all is created (as for an imported order). "
        "An identifier that is not valid never stops the event: it is left out (the others still link it) and the "
        "event is `applied` with `code` `customer_identifier_ignored`, or `customer_not_linked` when none is left, "
        "and a `detail` naming what was left out and why. "
        "Only the store's own `pos` key (or an admin) may send.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def send_events(
        self, db: Db, request: Request[Principal, Any, Any], store: StorePath, data: JSONBody[PosBatchIn]
    ) -> PosBatchResult:
        ensure_store(request.user, store)
        result = await service.ingest(db, store, data.events)
        count_pos_events(r.status for r in result.results)
        return result
