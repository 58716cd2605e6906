"""The omnichannel report: each figure is one SQL statement over the period's rows.

The statements lean on partial indexes made for them: customers' till sales by time, pickup orders by creation
time, collected orders by the time they were collected, and each customer's clicks by network and time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.ads import rules
from commerce.ads.exports import PLANNER_SETTINGS, clickers, in_store_purchases, last_click
from commerce.ads.schemas import InfluencedRevenue, OmnichannelReport, PickupFigures, RevenueFigure
from commerce.money import Money

# A report over a whole year of a large retailer's data takes longer than the service's 30 s statement
# timeout (benchmarks/RESULTS.md); it is an admin's occasional read, so its transaction gets more.
REPORT_TIMEOUT = "SET LOCAL statement_timeout = '180s'"

# Channels where the shopper is in a store (an associate's cart, a till): every other one is online.
IN_STORE_CHANNELS = ("store", "pos")

_INFLUENCED = text(
    f"""
    WITH purchases AS ({
        in_store_purchases(
            False,
            clickers(
                "ARRAY['google', 'meta']::varchar[]",
                "greatest(CAST(:google_window AS interval), CAST(:meta_window AS interval))",
            ),
        )
    }),
    networks (network, click_window) AS (
        VALUES ('google', CAST(:google_window AS interval)), ('meta', CAST(:meta_window AS interval))
    )
    SELECT n.network, k.campaign, pu.currency, count(*) AS purchases,
           count(DISTINCT pu.customer_id) AS customers, sum(pu.amount)::bigint AS revenue
    FROM purchases pu
    CROSS JOIN networks n
    CROSS JOIN LATERAL ({last_click("n.network", "n.click_window")}) k
    WHERE pu.amount IS NOT NULL
    GROUP BY n.network, k.campaign, pu.currency
    ORDER BY n.network, revenue DESC, k.campaign NULLS LAST, pu.currency
    """
)

_PICKUP = text(
    """
    SELECT count(*) AS orders,
           count(*) FILTER (WHERE status = 'collected') AS collected,
           count(*) FILTER (WHERE status = 'expired') AS expired,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE status IN ('placed', 'ready_for_pickup')) AS open
    FROM orders
    WHERE pickup_store IS NOT NULL AND created_at >= :since AND created_at < :until
    """
)

_ONLINE_PICKED_UP = text(
    """
    SELECT currency, count(*) AS purchases, count(DISTINCT customer_id) AS customers, sum(total)::bigint AS revenue
    FROM orders
    WHERE status = 'collected' AND pickup_store IS NOT NULL AND channel <> ALL(:in_store)
      AND updated_at >= :since AND updated_at < :until
    GROUP BY currency
    ORDER BY currency
    """
)

_STORE_BY_ONLINE_BUYERS = text(
    f"""
    WITH purchases AS ({in_store_purchases(items=False)}),
    sales AS MATERIALIZED (
        SELECT pu.*, EXISTS (
            SELECT 1 FROM orders o
            WHERE o.customer_id = pu.customer_id AND o.channel <> ALL(:in_store)
              AND o.status NOT IN ('cancelled', 'expired')
        ) AS buys_online
        FROM purchases pu
        WHERE pu.source = 'pos' AND pu.amount IS NOT NULL
    )
    SELECT currency,
           count(*) AS purchases, count(DISTINCT customer_id) AS customers, sum(amount)::bigint AS revenue,
           count(*) FILTER (WHERE buys_online) AS online_purchases,
           count(DISTINCT customer_id) FILTER (WHERE buys_online) AS online_customers,
           coalesce(sum(amount) FILTER (WHERE buys_online), 0)::bigint AS online_revenue
    FROM sales
    GROUP BY currency
    ORDER BY currency
    """
)


def _figure(currency: str, purchases: int, customers: int, revenue: int) -> RevenueFigure:
    return RevenueFigure(
        currency=currency,
        purchases=purchases,
        customers=customers,
        revenue=Money(amount=int(revenue), currency=currency),
    )


async def omnichannel_report(
    db: AsyncSession, since: datetime, until: datetime, *, google_window_days: int, meta_window_days: int
) -> OmnichannelReport:
    for setting in (*PLANNER_SETTINGS, REPORT_TIMEOUT):
        await db.execute(text(setting))
    period: dict[str, Any] = {"since": since, "until": until}
    in_store = {"in_store": list(IN_STORE_CHANNELS)}
    influenced = await db.execute(
        _INFLUENCED,
        period
        | {
            "google_window": timedelta(days=google_window_days),
            "meta_window": timedelta(days=meta_window_days),
        },
    )
    pickup = (await db.execute(_PICKUP, period)).one()
    picked_up = await db.execute(_ONLINE_PICKED_UP, period | in_store)
    store_sales = (await db.execute(_STORE_BY_ONLINE_BUYERS, period | in_store)).all()
    return OmnichannelReport(
        since=since,
        until=until,
        influenced_store_revenue=[
            InfluencedRevenue(
                network=r.network,
                campaign=r.campaign,
                purchases=r.purchases,
                customers=r.customers,
                revenue=Money(amount=int(r.revenue), currency=r.currency),
            )
            for r in influenced
        ],
        pickup=PickupFigures(
            orders=pickup.orders,
            collected=pickup.collected,
            expired=pickup.expired,
            cancelled=pickup.cancelled,
            open=pickup.open,
            no_show_rate=rules.no_show_rate(pickup.collected, pickup.expired),
        ),
        online_orders_picked_up=[_figure(r.currency, r.purchases, r.customers, r.revenue) for r in picked_up],
        store_purchases_by_online_buyers=[
            _figure(r.currency, r.online_purchases, r.online_customers, r.online_revenue)
            for r in store_sales
            if r.online_purchases
        ],
        store_purchases_all=[_figure(r.currency, r.purchases, r.customers, r.revenue) for r in store_sales],
    )
