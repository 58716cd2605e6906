"""Types shared by the schemas of several packages."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import PathParameter

# The ids a client chooses (store codes, product, promotion, segment and webhook ids): a letter or digit,
# then letters, digits, "_", "." and "-".
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
"""Such an id in a body or a query."""

IdPath = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=ID_PATTERN)]
"""Such an id in a path."""
