"""VERIFY: bytes in, typed verified data out. No IO here.

``verify_record`` is the only way to make a ``VerifiedRecord``; render accepts nothing else.
"""

from generator.verify.record import Check, VerifiedRecord, verify_record

__all__ = ["Check", "VerifiedRecord", "verify_record"]
