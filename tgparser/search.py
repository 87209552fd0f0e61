"""`search`: full-text search over the archive, ranked, with highlighted snippets."""

from __future__ import annotations

from typing import Any

from tgparser.export import FIELDS, export_record
from tgparser.search_query import parse
from tgparser.storage import Storage
from tgparser.storage.base import MessageFilter

SEARCH_FIELDS = (*FIELDS, "score", "snippet")


def search(
    storage: Storage, query: str, filters: MessageFilter, *, limit: int = 20
) -> list[dict[str, Any]]:
    """The best `limit` matches, best first, as export records plus `score` and `snippet`."""
    groups = parse(query)
    return [
        {**export_record(row), "score": round(float(row["score"]), 6), "snippet": row["snippet"]}
        for row in storage.search_messages(groups, filters, limit=limit)
    ]


def count_matches(storage: Storage, query: str, filters: MessageFilter) -> int:
    """How many messages match in all (to say "20 of 209")."""
    return storage.count_search(parse(query), filters)
