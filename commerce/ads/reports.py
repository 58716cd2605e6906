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
from commerce.ads.exports import PLANNER_SETTINGS, customer_sales, in_store_purchases
from commerce.ads.schemas import InfluencedRevenue, OmnichannelReport, PickupFigures, RevenueFigure
from commerce.money import Money

# The report's transaction: an admin's occasional read over up to a year of a large retailer's data. Its
# statements join and sum a year's purchases set-based, in memory with this work_mem (the default's 4 MB
# sends them to disk), and it may take longer than the service's 30 s statement timeout.
REPORT_SETTINGS = ("SET LOCAL statement_timeout = '180s'", "SET LOCAL work_mem = '64MB'")

# Channels where the shopper is in a store (an associate's cart, a till): every other one is online.
IN_STORE_CHANNELS = ("store", "pos")

# Each purchase is credited, per network, to its customer's last click of that network at or before it and at
# most the network's window before it. Set-based rather than one index lookup per purchase: each click
# covers the time from it to its customer's next click of the network (`next_at`; of two clicks at the
# same instant the later id covers that span), so a purchase joins, by customer, the click whose span holds
# it, within the window (its end computed once per click; the same bound as the export's `occurred_at - window`
# unless the session's time zone shifts for daylight saving in between, never in UTC). Purchases are first
# summed per customer and campaign, so the distinct count is of those sums.
_INFLUENCED = text(
    f"""
    WITH purchases AS ({in_store_purchases(False)}),
    networks (network, click_window) AS (
        VALUES ('google', CAST(:google_window AS interval)), ('meta', CAST(:meta_window AS interval))
    ),
    clicks AS (
        SELECT k.customer_id, k.network, k.campaign, k.clicked_at, k.clicked_at + n.click_window AS window_end,
               lead(k.clicked_at, 1, 'infinity') OVER (PARTITION BY k.customer_id, k.network ORDER BY k.clicked_at, k.id)
                   AS next_at
        FROM ad_clicks k
        JOIN networks n ON n.network = k.network
        WHERE k.customer_id IS NOT NULL
          AND k.clicked_at >= CAST(:since AS timestamptz) - n.click_window AND k.clicked_at < :until
    ),
    credited AS (
        SELECT k.network, k.campaign, pu.currency, pu.customer_id, count(*) AS purchases, sum(pu.amount) AS revenue
        FROM purchases pu
        JOIN clicks k ON k.customer_id = pu.customer_id
        WHERE pu.amount IS NOT NULL
          AND pu.occurred_at >= k.clicked_at AND pu.occurred_at < k.next_at AND pu.occurred_at <= k.window_end
        GROUP BY k.network, k.campaign, pu.currency, pu.customer_id
    )
    SELECT network, campaign, currency, sum(purchases)::bigint AS purchases, count(*) AS customers,
           sum(revenue)::bigint AS revenue
    FROM credited
    GROUP BY network, campaign, currency
    ORDER BY network, revenue DESC, campaign NULLS LAST, currency
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

# Summed per customer first, so whether a customer buys online is looked up once per customer (the CTE is
# materialized so that the three aggregates below share that lookup).
_STORE_BY_ONLINE_BUYERS = text(
    f"""
    WITH sales AS (
        SELECT p.customer_id, p.currency, count(*) AS purchases, sum(p.amount) AS revenue
        FROM ({customer_sales(False)}) p
        GROUP BY 1, 2
    ),
    buyers AS MATERIALIZED (
        SELECT s.*, EXISTS (
            SELECT 1 FROM orders o
            WHERE o.customer_id = s.customer_id AND o.channel <> ALL(:in_store)
              AND o.status NOT IN ('cancelled', 'expired')
        ) AS buys_online
        FROM sales s
    )
    SELECT currency,
           sum(purchases)::bigint AS purchases, count(*) AS customers, sum(revenue)::bigint AS revenue,
           coalesce(sum(purchases) FILTER (WHERE buys_online), 0)::bigint AS online_purchases,
           count(*) FILTER (WHERE buys_online) AS online_customers,
           coalesce(sum(revenue) FILTER (WHERE buys_online), 0)::bigint AS online_revenue
    FROM buyers
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
    for setting in (*PLANNER_SETTINGS, *REPORT_SETTINGS):
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
