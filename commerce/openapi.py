"""Finishing touches on the generated OpenAPI document, so it states what the server really does.

- Every error response is `application/problem+json` with the Problem schema.
- Every operation that needs a key documents 401; every one with parameters or a body, 422;
  every one with a body, 400 (malformed JSON).
- Request structs that reject unknown fields say so (`additionalProperties: false`).
- Every operation names the credentials it takes (`security`: an API key, a customer token, or none)
  and the roles it admits, read from its role guards.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute

from commerce.auth.guards import RoleGuard
from commerce.auth.schemas import CUSTOMER, ROLES
from commerce.errors import PROBLEM_MEDIA_TYPE

_DESCRIPTIONS = {
    "400": "Malformed request (bad JSON, a missing required header)",
    "401": "Missing, unknown, expired or revoked API key or customer token",
    "422": "Validation failed: see `code` and `errors`",
    "414": "The URI is longer than the server accepts (answered by the HTTP server, not as a problem)",
}
# Streamed responses whose 200 body comes in other media types than JSON: path -> media types.
# A route that streams registers itself here (the framework cannot infer it from a Stream).
STREAMED: dict[str, tuple[str, ...]] = {}

# Statuses the HTTP server itself answers, before the application sees the request.
_SERVER_STATUSES = ("414",)
_PUBLIC = ("/health", "/schema")


def _strict_struct_names() -> set[str]:
    names: set[str] = set()
    stack: list[type[Any]] = [msgspec.Struct]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        config = getattr(cls, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            names.add(cls.__name__)
    return names


def _operations(doc: OpenAPI) -> list[tuple[str, str, Operation]]:
    found = []
    for path, item in (doc.paths or {}).items():
        for method in ("get", "put", "post", "patch", "delete"):
            op = getattr(item, method, None)
            if op is not None:
                found.append((path, method, op))
    return found


API_KEY, CUSTOMER_TOKEN = "ApiKey", "CustomerToken"


def _admitted_roles(app: Litestar) -> dict[tuple[str, str], frozenset[str]]:
    """(OpenAPI path, method) -> the roles its guards admit (every role when it has no role guard)."""
    everyone = frozenset(ROLES) | {CUSTOMER}
    admitted: dict[tuple[str, str], frozenset[str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            roles = everyone
            for guard in handler.resolve_guards():
                guard = getattr(guard, "func", guard)  # the framework wraps plain callables
                if isinstance(guard, RoleGuard):
                    roles &= guard.roles
            for method in handler.http_methods:
                admitted[(route.path_format, method.lower())] = roles
    return admitted


def _document_access(op: Operation, roles: frozenset[str], public: bool) -> None:
    if public:
        op.security = []
        return
    schemes: list[dict[str, list[str]]] = []
    if roles - {CUSTOMER}:
        schemes.append({API_KEY: []})
    if CUSTOMER in roles:
        schemes.append({CUSTOMER_TOKEN: []})
    op.security = schemes
    names = [f"`{r}`" for r in (*ROLES, CUSTOMER) if r in roles]
    line = "**Who may call**: " + ", ".join(names) + (" (a customer token)" if CUSTOMER in roles else "") + "."
    op.description = f"{op.description}\n\n{line}" if op.description else line


def finish_openapi(app: Litestar) -> None:
    doc = app.openapi_schema
    admitted = _admitted_roles(app)
    problem_ref = Reference(ref="#/components/schemas/Problem")
    strict = _strict_struct_names()
    if doc.components and doc.components.schemas:
        for name, schema in doc.components.schemas.items():
            if isinstance(schema, Schema) and (name in strict or name.rsplit("_", 1)[-1] in strict):
                schema.additional_properties = False
    for path, method, op in _operations(doc):
        _document_access(op, admitted.get((path, method), frozenset()), path.startswith(_PUBLIC))
        responses = op.responses if op.responses is not None else {}
        needed: list[str] = []
        if not path.startswith(_PUBLIC):
            needed.append("401")
        if op.parameters or op.request_body:
            needed.append("422")
        if op.request_body:
            needed.append("400")
        if op.parameters:
            needed.append("414")
        for status in needed:
            responses.setdefault(status, OpenAPIResponse(description=_DESCRIPTIONS[status]))
        for status, response in responses.items():
            if isinstance(response, OpenAPIResponse) and int(status) >= 400 and status not in _SERVER_STATUSES:
                response.content = {PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=problem_ref)}
        if path in STREAMED and "200" in responses and isinstance(responses["200"], OpenAPIResponse):
            responses["200"].content = {
                media: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)) for media in STREAMED[path]
            }
        op.responses = responses
