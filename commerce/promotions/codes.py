"""Single-use codes: random, unguessable, each redeemable by one order (given back if it is cancelled)."""

from __future__ import annotations

import secrets

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.errors import NotFound, Unprocessable
from commerce.promotions.models import Promotion
from commerce.promotions.rules import normalise_code
from commerce.promotions.schemas import CodesIn, CodesOut

# Crockford's base32 without I, L, O and U: nothing to misread on a printed receipt.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# 16 symbols of 5 bits: 80 random bits per code.
LENGTH = 16

# Keys are made by rules.normalise_code, the rule carts and checkout look codes up by.
_INSERT = text(
    "INSERT INTO promotion_codes (code_key, code, promotion_id)"
    " SELECT k, c, :promotion_id FROM unnest(CAST(:keys AS varchar[]), CAST(:codes AS varchar[])) AS t (k, c)"
    " ON CONFLICT (code_key) DO NOTHING RETURNING code"
)


def new_code(prefix: str | None) -> str:
    """A random code, after `PREFIX-` when a prefix is given (one dash, also when the prefix ends with one)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return body if prefix is None else f"{prefix.upper().rstrip('-_')}-{body}"


async def create_codes(db: AsyncSession, promotion_id: str, data: CodesIn) -> CodesOut:
    """Make `count` new codes for the promotion in one insert; from now on it prices only carts carrying
    one of its codes (or its own code)."""
    marked = await db.scalar(
        update(Promotion)
        .where(Promotion.id == promotion_id)
        .values(single_use_codes=True, updated_at=text("now()"))
        .returning(Promotion.killed_at.is_(None))
    )
    if marked is None:
        raise NotFound(f"No promotion with id {promotion_id!r}.")
    if not marked:
        raise Unprocessable("This promotion was switched off; codes for it could never be used.", code="invalid_state")
    made: list[str] = []
    # A clash with an existing code (about 2^-80 per pair) is simply drawn again.
    while len(made) < data.count:
        batch = {normalise_code(c): c for c in (new_code(data.prefix) for _ in range(data.count - len(made)))}
        params = {"promotion_id": promotion_id, "keys": list(batch), "codes": list(batch.values())}
        made += list(await db.scalars(_INSERT, params))
    return CodesOut(promotion_id=promotion_id, codes=made)
