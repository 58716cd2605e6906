"""Domain errors and the one map that turns every failure into an RFC 9457 problem response."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

log = logging.getLogger("commerce.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem. `code` is stable: clients branch on it, not on `title` or `detail`."""

    type: str = "about:blank"
    status: int
    title: str
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None
    lines: list[dict[str, Any]] | None = None
    first_seq: Annotated[
        int | None, msgspec.Meta(description="With `feed_position_expired`: the feed's oldest seq")
    ] = None
    promotion_id: Annotated[
        str | None, msgspec.Meta(description="With `promotion_limit_reached` and `code_used`: the promotion")
    ] = None
    customer_id: Annotated[
        str | None,
        msgspec.Meta(
            description="With `identifier_taken`, for an admin or associate key: the customer holding the identifier"
        ),
    ] = None


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class BadRequest(DomainError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidState(DomainError):
    status, code, title = 409, "invalid_state", "Invalid state"


class Gone(DomainError):
    status, code, title = 410, "gone", "Gone"


class PreconditionFailed(DomainError):
    status, code, title = 412, "version_conflict", "Version conflict"


class Unprocessable(DomainError):
    status, code, title = 422, "validation_failed", "Validation failed"


class InsufficientStock(DomainError):
    status, code, title = 409, "insufficient_stock", "Insufficient stock"

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        skus = ", ".join(f"{line['sku']}@{line['store']}" for line in lines)
        super().__init__(f"Not enough stock for: {skus}. Reduce these lines or choose another store.", lines=lines)


class DatabaseUnavailable(DomainError):
    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, what: str = "The database connection was lost") -> None:
        super().__init__(f"{what}; nothing was changed. Retry (with the same Idempotency-Key).")


# Deadlock detected, serialization failure: PostgreSQL rolled the transaction back, and running it
# again is the documented remedy. Stock statements lock in one order, so these should not happen;
# if one does, the client hears "retry", never a 500.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_CONFLICT = "A concurrent transaction conflicted with this one (the database rolled it back)"


def problem(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[Problem]:
    return Response(
        Problem(status=status, title=title, detail=detail, code=code, **extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _domain(_: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    return problem(exc.status, exc.code, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors = exc.extra if isinstance(exc.extra, list) else None
    detail = "; ".join(
        f"{e.get('key') or e.get('source') or 'body'}: {e.get('message')}"
        for e in (errors or [])
        if isinstance(e, dict)
    ) or str(exc.detail)
    return problem(422, "validation_failed", "Validation failed", detail, errors=errors)


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("too_many_requests", "Too many requests"),
}


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    code, title = _HTTP_CODES.get(exc.status_code, ("error", "Error"))
    detail = str(exc.detail)
    if exc.status_code == 400 and ("json" in detail.lower() or "decode" in detail.lower()):
        code, title = "malformed_json", "Malformed JSON"
    # A 405 keeps the framework's `Allow` header: the methods the resource does answer (RFC 9110).
    return problem(exc.status_code, code, title, detail, headers=dict(exc.headers or {}) or None)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal server error",
        "The server failed to handle this request; nothing was changed. Retry later.",
    )


def _lost_connection(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or _unavailable(exc.orig) or isinstance(exc, OperationalError | InterfaceError)


def worth_retrying(exc: BaseException) -> bool:
    """Whether a transaction that failed with `exc` was rolled back by the database or lost with its
    connection, so running it again (on another connection) is the remedy: a request protected by an
    Idempotency-Key may do so itself, since a commit that did land is found and replayed."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    # Not a statement timeout (57014): trying again would wait as long again.
    if isinstance(exc, DBAPIError):
        return (
            not isinstance(exc, IntegrityError)
            and _sqlstate(exc.orig) != "57014"
            and (_sqlstate(exc.orig) in RETRYABLE_SQLSTATES or _lost_connection(exc))
        )
    # The driver's own errors (statements sent on the driver connection): a backend terminated
    # mid-statement reports 57P01 before its connection is seen closed.
    sqlstate = _sqlstate(exc)
    return sqlstate != "57014" and (sqlstate in RETRYABLE_SQLSTATES or _unavailable(exc))


def _database(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Problem]:
    """Lost connections and timeouts are the client's cue to retry; a constraint race is a conflict."""
    if isinstance(exc, IntegrityError):
        return _integrity_conflict(request, exc.orig)
    if _sqlstate(exc.orig) in RETRYABLE_SQLSTATES:
        log.warning("transaction conflict on %s %s: %s", request.method, request.url.path, exc.orig)
        return _domain(request, DatabaseUnavailable(TRANSACTION_CONFLICT))
    if _lost_connection(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc.orig)
        return _domain(request, DatabaseUnavailable())
    return _unexpected(request, exc)


def _integrity_conflict(request: Request[Any, Any, Any], exc: BaseException | None) -> Response[Problem]:
    log.warning("integrity conflict on %s %s: %s", request.method, request.url.path, exc)
    return problem(409, "conflict", "Conflict", "A concurrent change conflicted with this one; retry the request.")


def _sqlstate(exc: BaseException | None) -> str:
    return str(getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None) or "")


def _unavailable(exc: BaseException | None) -> bool:
    """A driver error that means "the database can't answer now": retrying is the right reaction."""
    sqlstate = _sqlstate(exc)
    # 08: connection exceptions, 53: insufficient resources (too many clients), 57: operator
    # intervention (statement timeout, server shutting down).
    # InternalClientError: the driver's protocol state broken by the server closing the connection
    # (seen when a backend is terminated between requests and the next statement is sent on it).
    return sqlstate.startswith(("08", "53", "57")) or isinstance(
        exc, asyncpg.InterfaceError | asyncpg.InternalClientError | OSError
    )


def _driver(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """Errors of statements sent on driver connections without SQLAlchemy (the one-statement searches,
    checkout's order statement)."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return _integrity_conflict(request, exc)
    if _sqlstate(exc) in RETRYABLE_SQLSTATES:
        log.warning("transaction conflict on %s %s: %s", request.method, request.url.path, exc)
        return _domain(request, DatabaseUnavailable(TRANSACTION_CONFLICT))
    if _unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return _domain(request, DatabaseUnavailable())
    return _unexpected(request, exc)


def _pool_timeout(request: Request[Any, Any, Any], exc: SQLAlchemyTimeoutError) -> Response[Problem]:
    log.warning("no database connection free for %s %s", request.method, request.url.path)
    return problem(503, "service_unavailable", "Service unavailable", "The service is overloaded; retry shortly.")


def _not_authorized(_: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Problem]:
    return problem(401, "unauthorized", "Unauthorized", str(exc.detail))


def _permission(_: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Problem]:
    return problem(403, "forbidden", "Forbidden", str(exc.detail))


def _route_not_found(_: Request[Any, Any, Any], exc: NotFoundException) -> Response[Problem]:
    return problem(404, "not_found", "Not found", str(exc.detail))


exception_handlers: ExceptionHandlersMap = {
    DomainError: _domain,
    ValidationException: _validation,
    NotAuthorizedException: _not_authorized,
    PermissionDeniedException: _permission,
    NotFoundException: _route_not_found,
    HTTPException: _http,
    DBAPIError: _database,
    asyncpg.PostgresError: _driver,
    asyncpg.InterfaceError: _driver,
    asyncpg.InternalClientError: _driver,
    SQLAlchemyTimeoutError: _pool_timeout,
    Exception: _unexpected,
}


def created_response(data: Any, what: str = "Created") -> dict[int, ResponseSpec]:
    """OpenAPI entry for the 201 an upsert returns when it created the resource."""
    return {201: ResponseSpec(data_container=data, description=what)}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can return."""
    descriptions = {
        400: "Malformed request (bad JSON, missing required header)",
        401: "Missing or unknown API key",
        403: "The key's role or store may not do this",
        404: "No such resource",
        409: "Conflict with the current state (see `code`)",
        410: "No longer kept (see `code`)",
        412: "Stale `If-Match` version",
        422: "Validation failed (see `code` and `errors`)",
    }
    return {
        s: ResponseSpec(
            data_container=Problem, description=descriptions.get(s, "Problem"), media_type=PROBLEM_MEDIA_TYPE
        )
        for s in statuses
    }


__all__ = [
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "InsufficientStock",
    "InvalidState",
    "NotFound",
    "PreconditionFailed",
    "Problem",
    "Unauthorized",
    "Unprocessable",
    "created_response",
    "exception_handlers",
    "problem_responses",
]
