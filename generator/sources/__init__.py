"""LOAD: where records come from. Every source yields ``RawRecord``: exact bytes + where from."""

from __future__ import annotations

from dataclasses import dataclass

# Endpoint kinds a source may attach to a record, as fetched bytes (published byte for byte):
#   graph     /api/pith-number/{SUFFIX}/graph.json
#   events    /api/pith-number/{SUFFIX}/events.json
#   bundle    /pith/{SUFFIX}/bundle.json  (also /.well-known/pith/{SUFFIX}/bundle.json)
#   state     /pith/{SUFFIX}/state.json
#   integrity /pith/{arxiv_id}/integrity.json
ENDPOINT_KINDS = ("graph", "events", "bundle", "state", "integrity")


@dataclass(frozen=True)
class RawRecord:
    """Bytes as read, unparsed and unverified. ``where`` names the origin (file, file:line, URL).

    ``endpoints`` holds other documents of the same record as (kind, bytes) pairs, unverified;
    ``notes`` holds what the source wants the reader told (for example: a newer copy refused).
    ``origin_url``/``fetched_at`` are the record's provenance; local files have neither.
    """

    data: bytes
    where: str
    endpoints: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = ()
    origin_url: str | None = None  # the URL the record was fetched from, when downloaded
    fetched_at: str | None = None  # when it was fetched (ISO-8601 UTC), when downloaded

    def endpoint(self, kind: str) -> bytes | None:
        for name, data in self.endpoints:
            if name == kind:
                return data
        return None
