"""Redemptions: checkout counts the promotions that have a limit or single-use codes, in one
conditional statement; cancelling or expiring the order gives back exactly what it counted."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import Conflict
from commerce.promotions import rules

# Counting at checkout, in one statement (statement-level all or nothing is the caller's transaction:
# any refusal raises and rolls everything back). Only promotions with a limit or single-use codes are
# counted, so an unlimited promotion's row is never locked by checkouts. `totals` is the conditional
# increment of total_limit counts; `mine` that of the customer's count; `codes` redeems one of the
# cart's codes per single-use promotion; `stale` are the cart's single-use codes another order
# redeemed first. The final SELECT names what was refused.
_REDEEM = text(
    """
WITH used AS (
    SELECT id, total_limit, per_customer_limit, single_use_codes FROM promotions
    WHERE id = ANY(CAST(:promotion_ids AS varchar[]))
      AND (total_limit IS NOT NULL OR per_customer_limit IS NOT NULL OR single_use_codes)
), locked AS (
    -- Counted rows are locked in id order, so two checkouts (or a checkout and a cancel) that count
    -- the same promotions never wait on each other crosswise.
    SELECT id FROM promotions WHERE id IN (SELECT id FROM used WHERE total_limit IS NOT NULL)
    ORDER BY id FOR UPDATE
), totals AS (
    UPDATE promotions p SET redemptions = p.redemptions + 1
    FROM locked l WHERE p.id = l.id AND p.redemptions < p.total_limit
    RETURNING p.id
), mine AS (
    INSERT INTO promotion_customer_redemptions AS r (promotion_id, customer_id, redemptions)
    SELECT u.id, CAST(:customer_id AS uuid), 1 FROM used u
    WHERE u.per_customer_limit IS NOT NULL AND CAST(:customer_id AS uuid) IS NOT NULL
    ORDER BY u.id
    ON CONFLICT (promotion_id, customer_id) DO UPDATE SET redemptions = r.redemptions + 1
    WHERE r.redemptions < (SELECT p.per_customer_limit FROM promotions p WHERE p.id = r.promotion_id)
    RETURNING r.promotion_id
), codes AS (
    UPDATE promotion_codes c SET redeemed_at = :now, order_id = :order_id
    FROM (SELECT DISTINCT ON (promotion_id) code_key FROM promotion_codes
          WHERE code_key = ANY(CAST(:codes AS varchar[])) AND redeemed_at IS NULL
            AND promotion_id IN (SELECT id FROM used WHERE single_use_codes)
          ORDER BY promotion_id, code_key) pick
    WHERE c.code_key = pick.code_key AND c.redeemed_at IS NULL
    RETURNING c.promotion_id, c.code_key
), stale AS (
    SELECT code FROM promotion_codes
    WHERE code_key = ANY(CAST(:codes AS varchar[])) AND redeemed_at IS NOT NULL
), recorded AS (
    INSERT INTO promotion_redemptions (order_id, promotion_id, customer_id, counted_total, code_key)
    SELECT :order_id, u.id, CAST(:customer_id AS uuid), u.total_limit IS NOT NULL,
           (SELECT k.code_key FROM codes k WHERE k.promotion_id = u.id)
    FROM used u
)
SELECT 'limit' AS refused, u.id AS what FROM used u
WHERE (u.total_limit IS NOT NULL AND u.id NOT IN (SELECT id FROM totals))
   OR (u.per_customer_limit IS NOT NULL AND u.id NOT IN (SELECT promotion_id FROM mine))
UNION ALL
SELECT 'code', u.id FROM used u WHERE u.single_use_codes AND u.id NOT IN (SELECT promotion_id FROM codes)
UNION ALL
SELECT 'stale', code FROM stale
ORDER BY 1, 2
"""
)


async def redeem(
    db: AsyncSession,
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    codes: Sequence[str],
    promotion_ids: Iterable[str],
    used_codes: Iterable[str],
    now: datetime,
) -> None:
    """Count an order against the limits of the promotions that priced it, and redeem its single-use
    codes, in one conditional statement. 409 `promotion_limit_reached` (with `promotion_id`) or
    `code_used` when it would pass a limit or a code was redeemed first; the caller's transaction
    then rolls back, so nothing is written."""
    used = sorted({p for p in promotion_ids if p is not None})
    keys = sorted({rules.normalise_code(c) for c in codes})
    if not used and not keys:
        return
    refused = (
        await db.execute(
            _REDEEM,
            {"promotion_ids": used, "customer_id": customer_id, "codes": keys, "order_id": order_id, "now": now},
        )
    ).all()
    for kind, what in refused:
        if kind == "limit":
            raise Conflict(
                f"Promotion {what!r} has reached its redemption limit; read the cart again (it now prices "
                "without it) and check out again.",
                code="promotion_limit_reached",
                promotion_id=what,
            )
        raise Conflict(
            f"Code {what!r} was redeemed by another order first; remove it from the cart and check out again."
            if kind == "stale"
            else f"The single-use code for promotion {what!r} was redeemed by another order first; remove it "
            "from the cart and check out again.",
            code="code_used",
            promotion_id=None if kind == "stale" else what,
        )


_GIVE_BACK = text(
    """
WITH gone AS (
    DELETE FROM promotion_redemptions WHERE order_id = ANY(CAST(:order_ids AS uuid[]))
    RETURNING order_id, promotion_id, customer_id, counted_total, code_key
), locked AS (
    SELECT id FROM promotions WHERE id IN (SELECT promotion_id FROM gone WHERE counted_total)
    ORDER BY id FOR UPDATE
), totals AS (
    UPDATE promotions p SET redemptions = greatest(p.redemptions - g.n, 0)
    FROM (SELECT promotion_id, count(*) AS n FROM gone WHERE counted_total GROUP BY 1) g, locked l
    WHERE p.id = g.promotion_id AND l.id = p.id
), mine AS (
    UPDATE promotion_customer_redemptions r SET redemptions = greatest(r.redemptions - g.n, 0)
    FROM (SELECT promotion_id, customer_id, count(*) AS n FROM gone WHERE customer_id IS NOT NULL GROUP BY 1, 2) g
    WHERE r.promotion_id = g.promotion_id AND r.customer_id = g.customer_id
), codes AS (
    UPDATE promotion_codes c SET redeemed_at = NULL, order_id = NULL
    FROM gone g WHERE c.code_key = g.code_key AND c.order_id = g.order_id
)
SELECT count(*) FROM gone
"""
)


async def give_back(db: AsyncSession, order_ids: Sequence[uuid.UUID]) -> int:
    """Give back what cancelled or expired orders counted (limits and single-use codes); returns how
    many redemptions that was. Giving back twice changes nothing."""
    if not order_ids:
        return 0
    return int((await db.execute(_GIVE_BACK, {"order_ids": list(order_ids)})).scalar_one())
