"""SQL the carts context exports for statements of other contexts that must join carts."""

from __future__ import annotations

# Who a cart belongs to, for every cart that has come to belong to someone: its own customer, the customer
# of the cart it was merged into at sign-in, or the customer of the order checked out from it.
CART_OWNERS = """
    SELECT c.id AS cart_id, coalesce(c.customer_id, m.customer_id, o.customer_id) AS customer_id
    FROM carts c
    LEFT JOIN carts m ON m.id = c.merged_into
    LEFT JOIN orders o ON o.cart_id = c.id
    WHERE coalesce(c.customer_id, m.customer_id, o.customer_id) IS NOT NULL
"""
