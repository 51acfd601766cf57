"""The operator's own Ed25519 key, which signs a site's manifest (not Pith's records).

``pith-mirror keygen OUT`` writes ``OUT`` (the private key, PKCS#8 PEM, mode 0600, never
overwritten) and ``OUT.pub`` (the public key, SubjectPublicKeyInfo PEM). A public key given to
``verify-site --key`` may be that PEM file, a file holding 64 hex digits, or the hex itself.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from generator.errors import OutputError, UsageError
from generator.identifiers import key_fingerprint_hex

_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
MAX_KEY_FILE = 16 * 1024


@dataclass(frozen=True)
class PublicKey:
    raw: bytes

    @property
    def hex(self) -> str:
        return self.raw.hex()

    @property
    def fingerprint_hex(self) -> str:
        return key_fingerprint_hex(self.raw)

    def pem(self) -> bytes:
        return Ed25519PublicKey.from_public_bytes(self.raw).public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    source: str

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def generate_key(out: Path) -> PublicKey:
    """Write a new key to ``out`` (0600) and its public half to ``out.pub``; refuse to overwrite."""
    pub_path = out.with_name(out.name + ".pub")
    for path in (out, pub_path):
        if path.exists() or path.is_symlink():
            raise OutputError(f"{path}: already exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = SigningKey(private, str(out))
    _write_exclusive(out, pem, 0o600)
    try:
        _write_exclusive(pub_path, key.public.pem(), 0o644)
    except OutputError:
        out.unlink()
        raise
    return key.public


def _write_exclusive(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise OutputError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot create: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _read_small(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise UsageError(f"{path}: too large for {what}")
    return data


def load_signing_key(path: Path) -> SigningKey:
    """An Ed25519 private key in PKCS#8 PEM (as ``keygen`` writes it)."""
    data = _read_small(path, "a signing key")
    try:
        private = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 private key")
    return SigningKey(private, str(path))


def parse_public_key(data: bytes, where: str) -> PublicKey:
    """PEM (SubjectPublicKeyInfo) or 64 hex digits; raise ``UsageError`` otherwise."""
    text = data.strip()
    if _HEX_KEY.fullmatch(text.decode("ascii", "replace")):
        return PublicKey(bytes.fromhex(text.decode("ascii")))
    try:
        public = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{where}: not an Ed25519 public key (PEM or 64 hex digits): {exc}") from None
    if not isinstance(public, Ed25519PublicKey):
        raise UsageError(f"{where}: not an Ed25519 public key")
    return PublicKey(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_public_key(spec: str) -> PublicKey:
    """``spec`` is 64 hex digits, or a file holding PEM or hex."""
    if _HEX_KEY.fullmatch(spec):
        return PublicKey(bytes.fromhex(spec))
    path = Path(spec)
    return parse_public_key(_read_small(path, "a public key"), str(path))
