-- The SQL of one pickup checkout, run by pgbench directly: the database's own ceiling for it.
-- Variables: stores, skus (set by the runner with -D).
-- In the service's order and shape (commerce/orders/checkout.py), 3 statements between BEGIN and END:
-- 1. key claim, stored response, cart lock and its lines, the order's number and time (no cart here:
--    the lock finds no row, like a cart id that is not there, and the lines read none);
-- 2. the promotions that could price the line;
-- 3. the order, its line, the closed cart, order.placed and the stored response, then (`written` gates
--    the lock) the reservation (level, hold, ledger, inventory.changed): the hot level is locked from
--    there to the commit.
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
), written AS MATERIALIZED (
    SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM lines) + (SELECT count(*) FROM cart)
        + (SELECT count(*) FROM placed_event) + (SELECT count(*) FROM response) AS n
), locked AS MATERIALIZED (
    SELECT il.store_code, il.sku FROM inventory_levels il
    WHERE il.store_code = format('S%s', lpad(:s::text, 4, '0')) AND il.sku = format('SKU%s', lpad(:k::text, 7, '0'))
      AND (SELECT n FROM written) > 0
    FOR UPDATE OF il
), upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + 1, updated_at = now()
    FROM locked WHERE il.store_code = locked.store_code AND il.sku = locked.sku
      AND il.on_hand - il.reserved - il.safety_stock >= 1
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
), held AS (
    INSERT INTO reservations (store_code, sku, quantity, reference) SELECT store_code, sku, 1, 'bench' FROM upd
), ledger AS (
    INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, on_hand_after, reserved_after)
    SELECT store_code, sku, 0, 1, 'reserve', 'bench', 'bench', on_hand, reserved FROM upd
), outbox AS (
    INSERT INTO events (type, data)
    SELECT 'inventory.changed', jsonb_build_object('store', store_code, 'sku', sku, 'on_hand', on_hand,
           'reserved', reserved, 'available', greatest(on_hand - reserved - safety_stock, 0)) FROM upd
)
SELECT store_code, sku, on_hand, reserved, safety_stock FROM upd;
END;
