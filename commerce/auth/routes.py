from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from commerce.auth import service
from commerce.auth.guards import allow
from commerce.auth.schemas import ApiKeyIn, ApiKeyOut
from commerce.db import Db
from commerce.errors import problem_responses


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["Auth"]
    guards = [allow("admin")]

    @post(
        "/",
        summary="Issue an API key",
        description="Returns the key once; only its hash is stored. `pos` and `associate` keys need `store`.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def create_key(self, db: Db, data: JSONBody[ApiKeyIn]) -> ApiKeyOut:
        return await service.create_key(db, data.role, data.store)
