-- The availability read (3 SKUs x 3 stores), run by pgbench directly: the database's read ceiling.
\set s random(1, :stores - 3)
\set k random(1, :skus - 3)
SELECT store_code, sku, greatest(on_hand - reserved - safety_stock, 0) AS available
FROM inventory_levels
WHERE store_code = ANY(ARRAY[format('S%s', lpad(:s::text, 4, '0')), format('S%s', lpad((:s + 1)::text, 4, '0')),
                             format('S%s', lpad((:s + 2)::text, 4, '0'))])
  AND sku = ANY(ARRAY[format('SKU%s', lpad(:k::text, 7, '0')), format('SKU%s', lpad((:k + 1)::text, 7, '0')),
                      format('SKU%s', lpad((:k + 2)::text, 7, '0'))]);
