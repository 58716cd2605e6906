"""Strict decoding of what a client sends: JSON bodies and query parameters are taken as declared.

Litestar converts a handler's arguments with msgspec in lax mode (`strict=False`), which turns
`"quantity": "1"` into 1, `"amount": 1000.0` into 1000 and `"pickup_enabled": 0` into false. A
production client that sends the wrong type has a bug it must hear about, so bodies are decoded
here, strictly, into the handler's declared `data` type before Litestar sees them (an instance
of the declared type passes through Litestar's conversion unchanged). Query strings are text by
nature, so their integers, numbers and booleans are checked against their one spelling
(`-12`, `1.5`, `true`) before the lax conversion runs.

A body that is not UTF-8 is 400 `malformed_json`; JSON nested deeper than the decoder can follow
is 422 `validation_failed`, like any other invalid body; neither reaches the handler.
"""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import Empty
from litestar.utils.empty import value_or_default

from commerce.errors import BadRequest, NotFound, Unprocessable

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The deepest JSON any of our types needs is well under this; `attributes` is held to it.
MAX_JSON_DEPTH = 32

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)

_ANY = msgspec.json.Decoder()
_QUERY_SPELLING = {
    int: (re.compile(r"^[+-]?[0-9]{1,20}$"), "an integer"),
    float: (re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"), "a number"),
    bool: (re.compile(r"^(?:true|false)$"), "`true` or `false`"),
}
_RESERVED = frozenset({"request", "state", "scope", "headers", "cookies", "query", "body", "data", "socket"})


def decode_json(decoder: msgspec.json.Decoder[Any], raw: bytes) -> Any:
    """Decode with `decoder`; every way a body can be wrong becomes a 4xx problem."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        message, key = _split(str(exc))
        error: dict[str, Any] = {"message": message, "source": "body"}
        if key:
            error["key"] = key
        raise ValidationException(detail=str(exc), extra=[error]) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}", code="malformed_json") from exc
    except UnicodeDecodeError as exc:
        raise BadRequest("The body is not UTF-8 text (JSON must be UTF-8).", code="malformed_json") from exc
    except RecursionError as exc:
        raise too_deep("The body") from exc


def too_deep(what: str) -> Unprocessable:
    return Unprocessable(f"{what} nests objects or arrays too deeply (at most {MAX_JSON_DEPTH} levels).")


def depth(value: Any) -> int:
    """How deeply a decoded JSON value nests objects and arrays (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _split(message: str) -> tuple[str, str]:
    match = _AT.match(message)
    if match is None:  # pragma: no cover - the pattern matches any text
        return message, ""
    path = (match.group("path") or "").lstrip(".")
    return match.group("message"), path


_body_decoders: dict[int, tuple[HTTPRouteHandler, msgspec.json.Decoder[Any]]] = {}
_query_kinds: dict[int, tuple[HTTPRouteHandler, dict[str, type]]] = {}


def _body_decoder(handler: HTTPRouteHandler) -> msgspec.json.Decoder[Any]:
    cached = _body_decoders.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    field = handler.parsed_fn_signature.parameters.get("data")
    decoder = _ANY if field is None else msgspec.json.Decoder(field.annotation, strict=True)
    _body_decoders[id(handler)] = (handler, decoder)
    return decoder


def needs_body(handler: object) -> bool:
    """The handler declares a JSON body it cannot do without (`data` with no default and not optional)."""
    if not isinstance(handler, HTTPRouteHandler):
        return False
    field = handler.parsed_fn_signature.parameters.get("data")
    return field is not None and not field.is_optional and not field.has_default


def _scalar(annotation: Any) -> type | None:
    """int, float or bool when `annotation` is one of them (or it | None)."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    return annotation if annotation in _QUERY_SPELLING else None


def _query_types(handler: HTTPRouteHandler, path_params: set[str]) -> dict[str, type]:
    cached = _query_kinds.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    dependencies = set(handler.resolve_dependencies())
    found: dict[str, type] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in _RESERVED or name in dependencies or name in path_params:
            continue
        kwarg = field.kwarg_definition
        alias = name
        if isinstance(kwarg, ParameterKwarg):
            if kwarg.header or kwarg.cookie:
                continue
            alias = value_or_default(kwarg.query, None) or name
        elif kwarg is not None:
            continue
        kind = _scalar(field.annotation)
        if kind is not None:
            found[alias] = kind
    _query_kinds[id(handler)] = (handler, found)
    return found


def check_query_spelling(request: Request[Any, Any, Any]) -> None:
    """Refuse `?limit=1.0`, `?pickup=1` and the like before the lax conversion would accept them, and
    integers that no column holds (past 64 bits: no id, seq or count can be that large)."""
    for name, value in request.path_params.items():
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise NotFound(f"No resource with {name} {value}.")
    handler = request.route_handler
    if not isinstance(handler, HTTPRouteHandler):
        return
    kinds = _query_types(handler, set(request.path_params))
    if not kinds:
        return
    errors = []
    for name, value in request.query_params.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        pattern, spelling = _QUERY_SPELLING[kind]
        if not pattern.fullmatch(value):
            errors.append({"key": name, "message": f"Expected {spelling}, got {value!r}", "source": "query"})
        elif kind is int and not INT64_MIN <= int(value) <= INT64_MAX:
            errors.append({"key": name, "message": f"{value} is out of range (64-bit integers)", "source": "query"})
    if errors:
        raise ValidationException(detail="Query parameters of the wrong type", extra=errors)


class StrictRequest(Request[Any, Any, Any]):
    """A request whose JSON body is decoded strictly into the handler's declared body type."""

    async def json(self) -> Any:
        if self._json is Empty:
            state = self._connection_state
            if state.json is Empty:
                handler = self.route_handler
                decoder = _body_decoder(handler) if isinstance(handler, HTTPRouteHandler) else _ANY
                state.json = decode_json(decoder, await self.body() or b"null")
            self._json = state.json
        return self._json
