-- The same pickup checkout as checkout.sql, written the way the best-known Python platform (Saleor)
-- writes its stock allocation: the stock rows are locked with SELECT ... FOR UPDATE in primary-key
-- order and read, the application checks and computes the new values, then writes them back with
-- separate statements (UPDATE with the computed value, then the hold, the ledger line, the event).
-- The same rows are written as by checkout.sql; the hot row is locked from the SELECT to the commit,
-- over five round trips instead of two. Variables: stores, skus (set by the runner with -D).
\set s random(1, :stores)
\set k random(1, :skus)
BEGIN;
SELECT pg_try_advisory_xact_lock(hashtextextended(gen_random_uuid()::text, 7));
WITH o AS (
    INSERT INTO orders (id, cart_id, channel, status, currency, subtotal, discount_total, total, pickup_store, hold_until)
    VALUES (gen_random_uuid(), gen_random_uuid()::text, 'web', 'placed', 'USD', 1000, 0, 1000,
            format('S%s', lpad(:s::text, 4, '0')), now() + interval '2 days')
    RETURNING id
)
INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, discount, line_total, fulfillment, location)
SELECT o.id, 1, format('SKU%s', lpad(:k::text, 7, '0')), 1, 1000, 0, 1000, 'pickup', format('S%s', lpad(:s::text, 4, '0'))
FROM o;
INSERT INTO events (type, data) VALUES ('order.placed', '{"bench": true}');
-- The stock rows, locked in primary-key order, read by the application.
SELECT on_hand, reserved, safety_stock
FROM inventory_levels
WHERE store_code = format('S%s', lpad(:s::text, 4, '0')) AND sku = format('SKU%s', lpad(:k::text, 7, '0'))
ORDER BY store_code, sku
FOR UPDATE
\gset
-- The application's check, then its writes with the values it computed.
\if :on_hand - :reserved - :safety_stock >= 1
UPDATE inventory_levels SET reserved = :reserved + 1, updated_at = now()
WHERE store_code = format('S%s', lpad(:s::text, 4, '0')) AND sku = format('SKU%s', lpad(:k::text, 7, '0'));
INSERT INTO reservations (store_code, sku, quantity, reference) VALUES (format('S%s', lpad(:s::text, 4, '0')), format('SKU%s', lpad(:k::text, 7, '0')), 1, 'bench');
INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, on_hand_after, reserved_after)
VALUES (format('S%s', lpad(:s::text, 4, '0')), format('SKU%s', lpad(:k::text, 7, '0')), 0, 1, 'reserve', 'bench', 'bench', :on_hand, :reserved + 1);
INSERT INTO events (type, data)
VALUES ('inventory.changed', jsonb_build_object('store', format('S%s', lpad(:s::text, 4, '0')), 'sku', format('SKU%s', lpad(:k::text, 7, '0')), 'on_hand', :on_hand,
        'reserved', :reserved + 1, 'available', greatest(:on_hand - :reserved - 1 - :safety_stock, 0)));
\endif
INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)
VALUES ('bench', gen_random_uuid()::text, 'x', 201, '\x00');
END;
