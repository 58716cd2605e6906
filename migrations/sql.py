"""Run a multi-statement SQL script inside the migration's transaction.

asyncpg prepares every statement it is given, and a prepared statement holds one command;
its simple-query `execute()` takes a whole script, so revisions read as plain SQL.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    raw = op.get_bind().connection.driver_connection
    await_only(raw.execute(sql))
