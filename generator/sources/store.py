"""The local content store as a build source: records and their fetched endpoint copies,
read back offline. Every object is re-hashed as it is read (``Store.read_object``); the
record itself is verified by the build like any other input."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from generator.sources import ENDPOINT_KINDS, RawRecord
from generator.store import Store


def load_store_records(root: Path) -> Iterator[RawRecord]:
    """One ``RawRecord`` per record in the store, in SUFFIX order, with its endpoint copies
    (kinds ``graph``, ``events``, ``bundle``, ``state``, ``integrity``) and its notes."""
    store = Store.open(root, readonly=True)
    try:
        rows = store.db.execute(
            "SELECT c.suffix, c.kind, c.url, c.sha256, r.fetched_at FROM copies c "
            "JOIN records rec ON rec.suffix = c.suffix "
            "LEFT JOIN responses r ON r.url = c.url ORDER BY c.suffix, c.kind"
        )
        for suffix, group in groupby(rows, key=lambda row: row[0]):
            copies = {kind: (url, sha, fetched_at) for _s, kind, url, sha, fetched_at in group}
            if "record" not in copies or copies["record"][1] is None:
                continue
            url, sha, fetched_at = copies["record"]
            endpoints = tuple(
                (kind, store.read_object(copies[kind][1]))
                for kind in ENDPOINT_KINDS
                if kind in copies and copies[kind][1] is not None
            )
            yield RawRecord(
                store.read_object(sha),
                url,
                endpoints=endpoints,
                notes=tuple(store.notes(suffix)),
                origin_url=url,
                fetched_at=fetched_at,
            )
    finally:
        store.close()
