"""The pinned keyring: the only thing a mirror trusts.

Pith's published key is built in. A keyring file adds keys (for a rotation, or a test key):

    {"keys": [{"key_id": "pith-v1-2026-05",
               "public_key_hex": "b2d5...",          # or "public_key_b64"
               "not_before": "2026-05-01T00:00:00Z", # optional
               "not_after": null}]}                   # optional

A receipt's ``key_id`` is only a hint; keys are matched by fingerprint.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from generator.errors import ConfigError, GeneratorError
from generator.identifiers import key_fingerprint_b32, key_fingerprint_hex
from generator.strictjson import loads_object

PITH_KEY_ID = "pith-v1-2026-05"
PITH_PUBLIC_KEY_HEX = "b2d552b68890857171a78b36a5dccf368a953413288c353f7c9d9d6f94b709b3"
PITH_UPSTREAM = "https://pith.science"


def parse_time(text: str) -> datetime:
    """ISO-8601 with ``Z`` or an offset; naive times are taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PinnedKey:
    key_id: str
    public_key: bytes
    not_before: datetime | None = None
    not_after: datetime | None = None
    source: str = "built-in"

    @cached_property
    def fingerprint_hex(self) -> str:
        return key_fingerprint_hex(self.public_key)

    @property
    def fingerprint_b32(self) -> str:
        return key_fingerprint_b32(self.public_key)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def valid_at(self, when: datetime | None) -> bool:
        if self.not_before is None and self.not_after is None:
            return True
        if when is None:
            return False  # a window is set and the time is unknown: fail closed
        if self.not_before is not None and when < self.not_before:
            return False
        return not (self.not_after is not None and when > self.not_after)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            _loaded(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


# Loaded public keys by their raw bytes: a build checks every record against the same few keys,
# and loading one costs about a tenth of a signature check. Bounded, in case a caller makes keys
# without end.
_LOADED: dict[bytes, Ed25519PublicKey] = {}
_LOADED_MAX = 64


def _loaded(public_key: bytes) -> Ed25519PublicKey:
    key = _LOADED.get(public_key)
    if key is None:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        key = _LOADED[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
    return key


PITH_KEY = PinnedKey(PITH_KEY_ID, bytes.fromhex(PITH_PUBLIC_KEY_HEX))


class Keyring:
    def __init__(self, keys: Iterable[PinnedKey]) -> None:
        self.keys: tuple[PinnedKey, ...] = tuple(keys)
        self._by_fp: dict[str, list[PinnedKey]] = {}
        for key in self.keys:
            self._by_fp.setdefault(key.fingerprint_hex, []).append(key)

    @classmethod
    def default(cls) -> Keyring:
        return cls([PITH_KEY])

    def by_fingerprint(self, fingerprint_hex: str) -> list[PinnedKey]:
        return list(self._by_fp.get(fingerprint_hex.lower(), []))

    def by_key_id(self, key_id: str) -> list[PinnedKey]:
        return [k for k in self.keys if k.key_id == key_id]

    def describe(self) -> list[dict[str, str | None]]:
        return [
            {
                "key_id": k.key_id,
                "algorithm": "ed25519",
                "public_key_hex": k.public_key_hex,
                "fingerprint_sha256_hex": k.fingerprint_hex,
                "not_before": _fmt(k.not_before),
                "not_after": _fmt(k.not_after),
                "source": k.source,
            }
            for k in self.keys
        ]


def _fmt(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def load_keyring(paths: Iterable[Path], *, include_pith: bool = True) -> Keyring:
    """The built-in Pith key plus every key in ``paths``; all problems reported at once."""
    keys: list[PinnedKey] = [PITH_KEY] if include_pith else []
    for path in paths:
        keys.extend(_load_keyring_file(path))
    return Keyring(keys)


def _load_keyring_file(path: Path) -> list[PinnedKey]:
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(where, [f"cannot read keyring: {exc.strerror}"]) from None
    try:
        doc = loads_object(data, where)
    except GeneratorError as exc:
        raise ConfigError(where, [str(exc)]) from None
    entries = doc.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(where, ['expected {"keys": [ ... ]} with at least one key'])
    problems: list[str] = []
    keys: list[PinnedKey] = []
    for i, entry in enumerate(entries):
        label = f"keys[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{label}: not an object")
            continue
        key_id = entry.get("key_id")
        if not isinstance(key_id, str) or not key_id:
            problems.append(f"{label}: key_id must be a non-empty string")
            key_id = "?"
        raw: bytes | None = None
        try:
            if isinstance(entry.get("public_key_hex"), str):
                raw = bytes.fromhex(entry["public_key_hex"])
            elif isinstance(entry.get("public_key_b64"), str):
                raw = base64.b64decode(entry["public_key_b64"], validate=True)
        except (ValueError, binascii.Error):
            raw = None
        if raw is None or len(raw) != 32:
            problems.append(f"{label} ({key_id}): public_key_hex/_b64 must be a 32-byte Ed25519 key")
            continue
        window: list[datetime | None] = []
        for field in ("not_before", "not_after"):
            value = entry.get(field)
            parsed: datetime | None = None
            if value is not None:
                try:
                    if not isinstance(value, str):
                        raise ValueError(field)
                    parsed = parse_time(value)
                except ValueError:
                    problems.append(f"{label} ({key_id}): {field} must be an ISO-8601 time or null")
            window.append(parsed)
        keys.append(PinnedKey(key_id, raw, window[0], window[1], source=where))
    if problems:
        raise ConfigError(where, problems)
    return keys
