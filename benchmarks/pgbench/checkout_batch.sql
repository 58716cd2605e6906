-- A prototype, measured by pgbench only (the service does not do this): :batch one-line pickup
-- checkouts of the same level combined into one transaction, with one statement that locks the level
-- once (FOR UPDATE, then the UPDATE in the same statement), grants the orders in arrival order while
-- their running total fits the available units (each order all or nothing), and writes the granted orders, their lines, holds, ledger lines and events;
-- then their idempotency records and one commit. Rows written per order are those of checkout.sql.
-- Variables: stores, skus, batch (set with -D). Run on one hot level as "hot:checkout_batch.sql".
\set s random(1, :stores)
\set k random(1, :skus)
BEGIN;
SELECT pg_try_advisory_xact_lock(hashtextextended(gen_random_uuid()::text, 7)) FROM generate_series(1, :batch);
WITH asked AS (
    SELECT i, gen_random_uuid() AS order_id, 1 AS quantity, sum(1) OVER (ORDER BY i) AS running
    FROM generate_series(1, :batch) i
), lvl AS (
    SELECT store_code, sku, on_hand - reserved - safety_stock AS available FROM inventory_levels
    WHERE store_code = format('S%s', lpad(:s::text, 4, '0')) AND sku = format('SKU%s', lpad(:k::text, 7, '0'))
    FOR UPDATE
), grant_ AS (
    SELECT lvl.store_code, lvl.sku, coalesce(max(a.running) FILTER (WHERE a.running <= lvl.available), 0) AS total
    FROM lvl, asked a GROUP BY lvl.store_code, lvl.sku
), upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + g.total, updated_at = now()
    FROM grant_ g WHERE il.store_code = g.store_code AND il.sku = g.sku
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved - g.total AS reserved_before, g.total
), granted AS (
    SELECT a.*, upd.store_code, upd.sku, upd.on_hand, upd.reserved_before + a.running AS reserved_after
    FROM asked a, upd WHERE a.running <= upd.total
), o AS (
    INSERT INTO orders (id, cart_id, channel, status, currency, subtotal, discount_total, total, pickup_store, hold_until)
    SELECT order_id, order_id::text, 'web', 'placed', 'USD', 1000, 0, 1000, store_code, now() + interval '2 days'
    FROM granted
), lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, discount, line_total, fulfillment, location)
    SELECT order_id, 1, sku, quantity, 1000, 0, 1000, 'pickup', store_code FROM granted
), placed AS (
    INSERT INTO events (type, data) SELECT 'order.placed', '{"bench": true}' FROM granted
), held AS (
    INSERT INTO reservations (store_code, sku, quantity, reference) SELECT store_code, sku, quantity, 'bench' FROM granted
), ledger AS (
    INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, on_hand_after, reserved_after)
    SELECT store_code, sku, 0, quantity, 'reserve', 'bench', 'bench', on_hand, reserved_after FROM granted
)
INSERT INTO events (type, data)
SELECT 'inventory.changed', jsonb_build_object('store', store_code, 'sku', sku, 'on_hand', on_hand, 'reserved', reserved_after)
FROM granted;
INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)
SELECT 'bench', gen_random_uuid()::text, 'x', 201, '\x00' FROM generate_series(1, :batch);
END;
