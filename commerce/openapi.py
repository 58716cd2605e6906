"""Finishing touches on the generated OpenAPI document, so it states what the server really does.

- Every error response is `application/problem+json` with the Problem schema.
- Every operation that needs a key documents 401; every one with parameters or a body, 422;
  every one with a body, 400 (malformed JSON).
- Request structs that reject unknown fields say so (`additionalProperties: false`).
- Every operation names the credentials it takes (`security`: an API key, a customer token, or none)
  and the roles it admits, read from its role guards.
- Every bound a struct field declares is in the document: the generator drops a bound of 0 (a
  `safety_stock` of at least 0) and the `extra_json_schema` of a field (`delta` is never 0).
- A header a route requires but answers the absence of itself (checkout's `Idempotency-Key`: 400
  `idempotency_key_required`) is marked required.
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
    Parameter,
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

# Headers a route requires, though the framework sees them as optional because the route answers
# their absence itself: path -> header names. A route registers itself here.
REQUIRED_HEADERS: dict[str, tuple[str, ...]] = {}

# Statuses the HTTP server itself answers, before the application sees the request.
_SERVER_STATUSES = ("414",)
_PUBLIC = ("/health", "/schema")


def _structs() -> list[type[msgspec.Struct]]:
    found: list[type[msgspec.Struct]] = []
    stack: list[type[Any]] = [msgspec.Struct]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is not msgspec.Struct and cls.__module__.startswith("commerce."):
            found.append(cls)
    return found


def _strict_struct_names() -> set[str]:
    return {cls.__name__ for cls in _structs() if cls.__struct_config__.forbid_unknown_fields}


def _add_bounds(prop: Schema, type_: Any) -> None:
    """Copy a field's bounds and extra JSON schema (msgspec's view of it) onto its property schema."""
    if isinstance(type_, msgspec.inspect.UnionType):
        inner = [t for t in type_.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(inner) != 1:
            return
        type_ = inner[0]
    if isinstance(type_, msgspec.inspect.Metadata):
        extra = type_.extra_json_schema or {}
        if isinstance(extra.get("not"), dict) and "const" in extra["not"]:
            prop.schema_not = Schema(const=extra["not"]["const"])
        type_ = type_.type
    if isinstance(type_, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        for bound, attribute in (
            ("ge", "minimum"),
            ("le", "maximum"),
            ("gt", "exclusive_minimum"),
            ("lt", "exclusive_maximum"),
        ):
            value = getattr(type_, bound)
            if value is not None and getattr(prop, attribute) is None:
                setattr(prop, attribute, value)


def _state_bounds(schemas: dict[str, Any]) -> None:
    by_name: dict[str, type[msgspec.Struct]] = {}
    for cls in _structs():
        by_name.setdefault(cls.__name__, cls)
        by_name[f"{cls.__module__.replace('.', '_')}_{cls.__name__}"] = cls
    for name, schema in schemas.items():
        struct = by_name.get(name)
        if struct is None or not isinstance(schema, Schema) or not schema.properties:
            continue
        info = msgspec.inspect.type_info(struct)
        if not isinstance(info, msgspec.inspect.StructType):
            continue
        for field in info.fields:
            prop = schema.properties.get(field.encode_name)
            if isinstance(prop, Schema):
                _add_bounds(prop, field.type)


def _require_headers(path: str, op: Operation) -> None:
    for parameter in op.parameters or []:
        if not isinstance(parameter, Parameter) or parameter.param_in != "header":
            continue
        if parameter.name in REQUIRED_HEADERS.get(path, ()):
            parameter.required = True
            if isinstance(parameter.schema, Schema) and parameter.schema.one_of:
                parameter.schema.one_of = [
                    s for s in parameter.schema.one_of if not (isinstance(s, Schema) and s.type == OpenAPIType.NULL)
                ]


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
        _state_bounds(doc.components.schemas)
    for path, method, op in _operations(doc):
        _document_access(op, admitted.get((path, method), frozenset()), path.startswith(_PUBLIC))
        _require_headers(path, op)
        responses = op.responses if op.responses is not None else {}
        needed: list[str] = []
        if path.startswith(_PUBLIC):
            op.security = []  # no key needed: overrides the document's default
        else:
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
