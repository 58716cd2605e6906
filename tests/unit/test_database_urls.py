"""DATABASE_URL spellings: one host, a Unix socket, several hosts for failover."""

from __future__ import annotations

import pytest
from asyncpg.connect_utils import _parse_connect_dsn_and_args

from commerce.db import driver_dsn


def parsed(dsn: str) -> tuple[list[tuple[str, int]], str]:
    addrs, params = _parse_connect_dsn_and_args(
        dsn=dsn, host=None, port=None, user=None, password=None, passfile=None, database=None, ssl=None,
        service=None, servicefile=None, direct_tls=None, server_settings=None, target_session_attrs=None,
        krbsrvname=None, gsslib=None,
    )  # fmt: skip
    return list(addrs), str(params.target_session_attrs)


def test_several_hosts_reach_the_driver_as_one_list_with_the_session_attributes() -> None:
    url = "postgresql://app:pw@/shop?host=10.0.0.1:5432&host=10.0.0.2:5433&target_session_attrs=read-write"
    dsn = driver_dsn(url)
    assert dsn == "postgresql://app:pw@10.0.0.1:5432,10.0.0.2:5433/shop?target_session_attrs=read-write"
    assert parsed(dsn) == ([("10.0.0.1", 5432), ("10.0.0.2", 5433)], "SessionAttribute.read_write")


@pytest.mark.parametrize(
    ("url", "dsn"),
    [
        ("postgresql://app@db:5432/shop", "postgresql://app@db:5432/shop"),
        ("postgresql+asyncpg://app@db/shop", "postgresql://app@db/shop"),
        ("postgres://app:@/shop?host=/run/pg", "postgresql://app:@/shop?host=/run/pg"),
    ],
)
def test_one_host_is_passed_as_it_is(url: str, dsn: str) -> None:
    assert driver_dsn(url) == dsn
