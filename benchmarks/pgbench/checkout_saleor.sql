-- The same pickup checkout as checkout.sql, with its stock written the way the best-known Python
-- platform (Saleor) writes its stock allocation: the stock rows are locked with SELECT ... FOR UPDATE in
-- primary-key order and read, the application checks and computes the new values, then writes them back
-- with separate statements (UPDATE with the computed value, then the hold, the ledger line, the event).
-- Everything before the stock is checkout.sql's own (key claim, cart lock and lines, promotions, the
-- order with its stored response), so the two differ only in how the hot row is locked and written: here
-- it stays locked from the SELECT to the commit over five round trips instead of the end of one statement.
-- Variables: stores, skus (set by the runner with -D).
\set s random(1, :stores)
\set k random(1, :skus)
\set key random(1, 1000000000)
BEGIN;
WITH claim AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock(hashtextextended(format('bench:%s', :key::bigint), 7)) AS locked
), stored AS MATERIALIZED (
    SELECT request_hash, status_code, body FROM idempotency_keys
    WHERE (SELECT locked FROM claim) AND principal = 'bench' AND key = format('%s', :key::bigint)
), cart AS MATERIALIZED (
    SELECT id, version FROM carts WHERE id = format('bench-%s', :key::bigint) AND NOT EXISTS (SELECT FROM stored) FOR UPDATE
)
SELECT claim.locked, stored.body, cart.id, nextval(pg_get_serial_sequence('orders', 'number')) AS number, now() AS at,
    (SELECT greatest(il.on_hand - il.reserved - il.safety_stock, 0) FROM inventory_levels il
     WHERE il.store_code = format('S%s', lpad(:s::text, 4, '0')) AND il.sku = format('SKU%s', lpad(:k::text, 7, '0')))
     AS pickup_available
FROM claim LEFT JOIN stored ON true LEFT JOIN cart ON true;
SELECT id, updated_at FROM promotions WHERE killed_at IS NULL AND (starts_at IS NULL OR starts_at <= now())
    AND (ends_at IS NULL OR ends_at > now()) AND segments IS NULL AND (total_limit IS NULL OR redemptions < total_limit)
    AND ((skus IS NULL AND categories IS NULL) OR skus && ARRAY[format('SKU%s', lpad(:k::text, 7, '0'))]::varchar[]);
WITH o AS (
    INSERT INTO orders (id, number, cart_id, channel, status, currency, subtotal, discount_total, total, pickup_store,
                        hold_until, placed_at, created_at, updated_at)
    OVERRIDING SYSTEM VALUE
    VALUES (gen_random_uuid(), nextval(pg_get_serial_sequence('orders', 'number')), gen_random_uuid()::text, 'web',
            'placed', 'USD', 1000, 0, 1000, format('S%s', lpad(:s::text, 4, '0')), now() + interval '2 days', now(), now(),
            now())
    RETURNING id
), lines AS (
    INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, discount, line_total, fulfillment, location)
    SELECT o.id, 1, format('SKU%s', lpad(:k::text, 7, '0')), 1, 1000, 0, 1000, 'pickup', format('S%s', lpad(:s::text, 4, '0'))
    FROM o
    RETURNING 1
), cart AS (
    UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = now() WHERE id = format('bench-%s', :key::bigint)
    RETURNING 1
), placed_event AS (
    INSERT INTO events (type, data) VALUES ('order.placed', '{"bench": true}') RETURNING 1
), response AS (
    INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)
    VALUES ('bench', gen_random_uuid()::text, 'x', 201, '\x00')
    RETURNING 1
)
SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM lines) + (SELECT count(*) FROM cart)
    + (SELECT count(*) FROM placed_event) + (SELECT count(*) FROM response) AS n;
-- The stock rows, locked in primary-key order, read by the application.
SELECT on_hand, reserved, safety_stock
FROM inventory_levels
WHERE store_code = format('S%s', lpad(:s::text, 4, '0')) AND sku = format('SKU%s', lpad(:k::text, 7, '0'))
ORDER BY store_code, sku
FOR UPDATE
\gset
-- The application's check, then its writes with the values it computed.
\if :on_hand - :reserved - :safety_stock >= 1
UPDATE inventory_levels SET reserved = :reserved::bigint + 1, updated_at = now()
WHERE store_code = format('S%s', lpad(:s::text, 4, '0')) AND sku = format('SKU%s', lpad(:k::text, 7, '0'));
INSERT INTO reservations (store_code, sku, quantity, reference) VALUES (format('S%s', lpad(:s::text, 4, '0')), format('SKU%s', lpad(:k::text, 7, '0')), 1, 'bench');
INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, on_hand_after, reserved_after)
VALUES (format('S%s', lpad(:s::text, 4, '0')), format('SKU%s', lpad(:k::text, 7, '0')), 0, 1, 'reserve', 'bench', 'bench', :on_hand::bigint, :reserved::bigint + 1);
INSERT INTO events (type, data)
VALUES ('inventory.changed', jsonb_build_object('store', format('S%s', lpad(:s::text, 4, '0')), 'sku', format('SKU%s', lpad(:k::text, 7, '0')), 'on_hand', :on_hand::bigint,
        'reserved', :reserved::bigint + 1, 'available', greatest(:on_hand::bigint - :reserved::bigint - 1 - :safety_stock::bigint, 0)));
\endif
END;
