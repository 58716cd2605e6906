-- The flash sale's ceiling: the checkout transaction of benchmarks/pgbench/checkout.sql, every
-- client on one hot level (S0001 / FLASH-CEILING, seeded with stock that does not run out), run by
-- pgbench directly. Row locks on that level serialise the transactions, as they do in the service.
BEGIN;
-- In the service's order: lock, order write, reservation (hot rows locked from here), idempotency record.
SELECT pg_try_advisory_xact_lock(hashtextextended(gen_random_uuid()::text, 7));
WITH o AS (
    INSERT INTO orders (id, cart_id, channel, status, currency, subtotal, discount_total, total, pickup_store, hold_until)
    VALUES (gen_random_uuid(), gen_random_uuid()::text, 'web', 'placed', 'USD', 1000, 0, 1000,
            'S0001', now() + interval '2 days')
    RETURNING id
)
INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price, discount, line_total, fulfillment, location)
SELECT o.id, 1, 'FLASH-CEILING', 1, 1000, 0, 1000, 'pickup', 'S0001'
FROM o;
INSERT INTO events (type, data) VALUES ('order.placed', '{"bench": true}');
WITH upd AS (
    UPDATE inventory_levels il SET reserved = il.reserved + 1, updated_at = now()
    WHERE il.store_code = 'S0001' AND il.sku = 'FLASH-CEILING'
      AND il.on_hand - il.reserved - il.safety_stock >= 1
    RETURNING il.store_code, il.sku, il.on_hand, il.reserved, il.safety_stock
), held AS (
    INSERT INTO reservations (store_code, sku, quantity, reference) SELECT store_code, sku, 1, 'bench' FROM upd
), ledger AS (
    INSERT INTO inventory_ledger (store_code, sku, delta, reserved_delta, reason, source, reference, on_hand_after, reserved_after)
    SELECT store_code, sku, 0, 1, 'reserve', 'bench', 'bench', on_hand, reserved FROM upd
)
INSERT INTO events (type, data)
SELECT 'inventory.changed', jsonb_build_object('store', store_code, 'sku', sku, 'on_hand', on_hand,
       'reserved', reserved, 'available', greatest(on_hand - reserved - safety_stock, 0)) FROM upd;
INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)
VALUES ('bench', gen_random_uuid()::text, 'x', 201, '\x00');
END;
