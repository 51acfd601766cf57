"""``/pith-mirrors.json``: this mirror described in Pith's mirror-manifest shape.

Pith publishes the same document at ``https://pith.science/pith-mirrors.json`` (PROTOCOL.md §4).
This site's copy lists this mirror first (status ``mirror``), then the upstream it copies
(status ``primary``), each with the Ed25519 key that signs the records. Fields Pith's shape does
not have (``record_pattern``, ``upstream``, ``site_manifest``, ``operator_key``, ``pinned_keys``)
are additions; tools that know only Pith's fields can ignore them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from generator.keyring import PITH_KEY, PITH_UPSTREAM, Keyring, PinnedKey
from generator.manifest import MANIFEST_PATH, PUBLIC_KEY_PATH
from generator.render.site import OutputFile
from generator.signing import load_signing_key

if TYPE_CHECKING:
    from generator.build import SiteContext

MIRRORS_PATH = "pith-mirrors.json"
MERGE_VERSION = "pith-open-graph-merge-v1"
PITH_KEY_URL = "https://pith.science/pith-signing-key.json"
VERIFY_NOTE = (
    "Verify with: ed25519_verify(public_key, message=canonical_sha256_bytes, "
    "signature=base64decode(signature_b64))."
)
PITH_KEY_NOTES = "Pith uses this Ed25519 key to sign canonical record SHA-256 digests. " + VERIFY_NOTE


def _public_key(key: PinnedKey) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key_id": key.key_id,
        "algorithm": "ed25519",
        "format": "raw",
        "public_key_b64": base64.b64encode(key.public_key).decode("ascii"),
        "public_key_hex": key.public_key_hex,
        "fingerprint_sha256_b32_first128bits": key.fingerprint_b32,
        "fingerprint_sha256_hex": key.fingerprint_hex,
        "rotates_at": None,
    }
    if key == PITH_KEY:
        entry["url"] = PITH_KEY_URL
        entry["notes"] = PITH_KEY_NOTES
    else:
        entry["notes"] = "A key pinned by this mirror's operator. " + VERIFY_NOTE
    return entry


def _patterns(base: str) -> dict[str, str]:
    return {
        "bundle_pattern": f"{base}/pith/{{suffix}}/bundle.json",
        "state_pattern": f"{base}/pith/{{suffix}}/state.json",
        "well_known_pattern": f"{base}/.well-known/pith/{{suffix}}/bundle.json",
    }


def mirror_manifest(
    *,
    title: str,
    base_url: str | None,
    upstream: str,
    keyring: Keyring,
    generated_at: str,
    operator_key: dict[str, str] | None,
) -> dict[str, Any]:
    base = base_url.rstrip("/") if base_url else ""
    up = upstream.rstrip("/")
    this: dict[str, Any] = {
        "name": title,
        "mirror_type": base_url.split(":", 1)[0] if base_url else "static",
        "base_url": base or None,
        **_patterns(base),
        "record_pattern": f"{base}/pith/{{suffix}}.json",
        "public_key": _public_key(PITH_KEY),
        "status": "mirror",
        "upstream": up,
        "site_manifest": f"{base}/{MANIFEST_PATH}",
        "operator_key": operator_key,
        "pinned_keys": [_public_key(k) for k in keyring.keys],
        "notes": (
            "A static mirror built by pith-mirror: every record here was re-verified against the "
            "pinned keys before publication. Patterns without a host are relative to where this "
            "file is served."
        ),
    }
    primary: dict[str, Any] = {
        "name": "Pith Resolver" if up == PITH_UPSTREAM else up,
        "mirror_type": up.split(":", 1)[0],
        "base_url": up,
        **_patterns(up),
        "public_key": _public_key(PITH_KEY),
        "status": "primary",
    }
    return {
        "manifest_type": "pith_mirror_manifest",
        "manifest_version": "1.0",
        "generated_at": generated_at,
        "merge_version": MERGE_VERSION,
        "mirrors": [this, primary],
        "notes": (
            "Any conforming mirror may host the same Pith Open Graph bundles. Current state is "
            "computed by deterministic merge, not by trusting this manifest."
        ),
    }


def mirror_manifest_files(ctx: SiteContext) -> Iterable[OutputFile]:
    """SITE step: ``/pith-mirrors.json`` (listed in the site manifest like any page)."""
    operator: dict[str, str] | None = None
    if ctx.config.sign_key is not None:
        pub = load_signing_key(ctx.config.sign_key).public
        operator = {
            "algorithm": "ed25519",
            "public_key_hex": pub.hex,
            "fingerprint_sha256_hex": pub.fingerprint_hex,
            "public_key_path": "/" + PUBLIC_KEY_PATH,
        }
    doc = mirror_manifest(
        title=ctx.config.title,
        base_url=ctx.config.base_url,
        upstream=ctx.config.upstream,
        keyring=ctx.keyring,
        generated_at=ctx.build_time,
        operator_key=operator,
    )
    data = (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    yield OutputFile(MIRRORS_PATH, data)
