"""Row checksums that SQLite (in Python) and PostgreSQL (in SQL) compute alike.

A row's canonical text is its columns joined by U+001F, each written as PostgreSQL writes it
as text, which Python reproduces from SQLite's stored values:
- integers in decimal; text as it is; NULL as U+0001;
- timestamps as UTC ISO-8601 with microseconds and `+00:00`;
- booleans as `true` / `false`;
- floats (doubles) as the 16 hex digits of their 8 IEEE-754 bytes, big-endian (PostgreSQL's
  `float8send`): exact, so a change in the last bit shows;
- JSON as jsonb prints it: keys shortest first, then bytewise; `", "` and `": "` between
  items; numbers as written, in fixed-point notation (jsonb keeps a number as a `numeric`,
  every digit of it).
The row's digest is the first 128 bits of the SHA-256 of that text's UTF-8 bytes (PostgreSQL
has sha256() built in; a checksum against accidents, not an adversary); a table's checksum is
the sum of its rows' digests modulo 2**128, which no row order changes. So PostgreSQL
computes a table's checksum, or each streamed row's digest, itself, and a client hashes only
SQLite rows. SHA-256 rather than MD5: both OpenSSL builds (Python's and the server's) use the
CPU's SHA instructions where it has them, which made it the cheaper of the two here.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tgparser.storage.columns import ColumnType

NULL = "\x01"
SEPARATOR = "\x1f"
MODULUS = 1 << 128
_DOUBLE = struct.Struct(">d")


class _ExponentFloat(Exception):
    pass


def _float(text: str) -> float:
    value = float(text)
    if repr(value) != text or "e" in text or not value:
        # jsonb prints 1e-07 as 0.0000001 and -0.0 as 0.0, keeps 1.50 as it is and every
        # digit of a number no double holds: the slow path below, with the exact number.
        raise _ExponentFloat
    return value


def _jsonb_key(key: str) -> tuple[int, bytes]:
    data = key.encode()
    return len(data), data


class _JsonbOrder:
    """`object_hook`: an object's keys in jsonb's order (shortest first, then bytewise).

    The order is worked out once per distinct tuple of keys (an archive's JSON has few:
    Telethon's objects of each type hold the same keys) and the dict is then rebuilt at C
    level; an object already in that order is handed back as it is. Duplicate keys are gone
    by then, the last value kept, as in jsonb."""

    LIMIT = 4096  # distinct key tuples remembered; a pathological archive only costs speed

    def __init__(self) -> None:
        self.orders: dict[tuple[str, ...], tuple[str, ...] | None] = {}

    def __call__(self, value: dict[str, Any]) -> dict[str, Any]:
        keys = tuple(value)
        try:
            order = self.orders[keys]
        except KeyError:
            order = tuple(sorted(keys, key=_jsonb_key))
            if order == keys:
                order = None
            if len(self.orders) >= self.LIMIT:
                self.orders.clear()
            self.orders[keys] = order
        if order is None:
            return value
        return dict(zip(order, map(value.__getitem__, order), strict=True))


_jsonb_order = _JsonbOrder()
_jsonb_dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
# Made once: json.loads() with hooks builds a new decoder for every call.
_jsonb_loads = json.JSONDecoder(object_hook=_jsonb_order, parse_float=_float).decode
_jsonb_loads_exact = json.JSONDecoder(object_hook=_jsonb_order, parse_float=Decimal).decode


def jsonb_text(text: str) -> str:
    """JSON text as PostgreSQL's jsonb prints it."""
    try:
        return _jsonb_dumps(_jsonb_loads(text))
    except _ExponentFloat:
        return _jsonb_slow(_jsonb_loads_exact(text))


def _jsonb_slow(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_jsonb_dumps(k)}: {_jsonb_slow(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_slow(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(abs(value) if value.is_zero() else value, "f")  # numeric has no -0
    return _jsonb_dumps(value)


def _timestamp(value: Any) -> str:
    if isinstance(value, str) and len(value) == 27 and value[10] == "T" and value[26] == "Z":
        # SQLite's own fixed-width form (2024-02-29T23:59:59.999999Z): no parsing needed
        return value[:-1] + "+00:00"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _float_text(value: Any) -> str:
    return _DOUBLE.pack(float(value)).hex()  # PostgreSQL: encode(float8send(x), 'hex')


_TEXT = {
    "float": _float_text,
    "int": str,
    "text": str,
    "timestamp": _timestamp,
    "json": jsonb_text,
    "bool": lambda v: "true" if v else "false",
    "weights": str,  # packed text, the same in both dialects
}


def row_writers(kinds: Iterable[ColumnType]) -> list[Any]:
    return [_TEXT[k] for k in kinds]


def sqlite_digest(values: Sequence[Any], writers: Sequence[Any]) -> int:
    """The digest of a row as SQLite stores it (see the module's docstring)."""
    text = SEPARATOR.join(
        [NULL if v is None else write(v) for v, write in zip(values, writers, strict=True)]
    )
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def postgres_row_text(columns: dict[str, ColumnType]) -> str:
    """SQL for the canonical text of a row (the same text `sqlite_digest` hashes)."""
    parts = []
    for column, kind in columns.items():
        if kind == "timestamp":
            expression = (
                f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') """
                "|| '+00:00'"
            )
        elif kind == "bool":
            expression = f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
        elif kind == "text":
            expression = column
        elif kind == "float":
            expression = f"encode(float8send({column}), 'hex')"
        else:
            expression = f"{column}::text"
        parts.append(f"coalesce({expression}, E'\\x01')")
    return f"concat_ws(E'\\x1f', {', '.join(parts)})"


def postgres_digest_sql(columns: dict[str, ColumnType], *, utf8_client: bool = False) -> str:
    """SQL for a row's digest as 32 hex digits (what `sqlite_digest` computes).

    The text's UTF-8 bytes: `convert_to(…, 'UTF8')` checks every character of the text
    first, which costs about what the hash does; `textsend()` gives them as the session's
    client encoding, so where that is UTF-8 (`utf8_client`) it is the cheap way."""
    text = postgres_row_text(columns)
    data = f"textsend({text})" if utf8_client else f"convert_to({text}, 'UTF8')"
    return f"left(encode(sha256({data}), 'hex'), 32)"


def postgres_table_checksum_sql(
    table: str, columns: dict[str, ColumnType], *, utf8_client: bool = False
) -> str:
    """SQL giving (row count, the four 32-bit sums of the rows' digests).

    The digest is a function in FROM, joined laterally to each row, so the server computes
    it once per row: written as a column of a subquery, the planner pulls the subquery up
    and copies the digest's expression into each of the four sums, which printed every row
    (its jsonb above all) and hashed it four times. The join keeps the parallel plan (each
    worker hashes and sums its share of the rows)."""
    quarters = ", ".join(
        f"coalesce(sum(('x' || substr(d.h, {1 + 8 * i}, 8))::bit(32)::bigint), 0)" for i in range(4)
    )
    digest = postgres_digest_sql(columns, utf8_client=utf8_client)
    return f"SELECT count(*), {quarters} FROM {table}, {digest} AS d(h)"


def combine_quarters(quarters: Sequence[Any]) -> int:
    total = 0
    for q in quarters:
        total = (total << 32) + int(q)
    return total % MODULUS


def checksum_text(total: int) -> str:
    return f"{total % MODULUS:032x}"
