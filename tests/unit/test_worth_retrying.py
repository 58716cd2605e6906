"""Which failed checkout transactions are tried once more (errors.worth_retrying)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError

from commerce.errors import Conflict, DatabaseUnavailable, InsufficientStock, worth_retrying


def test_lost_connections_and_rolled_back_transactions_are_retried() -> None:
    assert worth_retrying(DatabaseUnavailable())
    assert worth_retrying(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert worth_retrying(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
    assert worth_retrying(asyncpg.exceptions.SerializationError("could not serialize"))
    assert worth_retrying(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert worth_retrying(DBAPIError("SELECT 1", {}, asyncpg.exceptions.DeadlockDetectedError("deadlock")))
    lost = DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert worth_retrying(lost)


def test_answers_and_other_failures_are_not() -> None:
    assert not worth_retrying(InsufficientStock([{"sku": "A", "store": "S", "requested": 1, "available": 0}]))
    assert not worth_retrying(Conflict("taken", code="code_used"))
    assert not worth_retrying(asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"))
    assert not worth_retrying(IntegrityError("INSERT", {}, asyncpg.exceptions.UniqueViolationError("duplicate")))
    assert not worth_retrying(ValueError("a bug"))
    timeout = asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")
    assert not worth_retrying(DBAPIError("SELECT 1", {}, timeout))
