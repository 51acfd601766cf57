"""The one error tree of pith-mirror.

Every failure the generator reports is a ``GeneratorError``; ``cli.main`` catches it once.

    GeneratorError
    ├── UsageError          bad command line or configuration (exit 2)
    │   └── ConfigError     a config file with one or more problems, all listed
    ├── RecordError         a record (or other Pith document) is bad data; carries a stable ``code``
    │   ├── JsonError       the bytes are not strict JSON (duplicate key, NaN, depth, size, ...)
    │   └── VerificationError  the JSON is well formed but a Pith rule does not hold
    ├── SourceError         an input file or directory cannot be read
    │   └── StoreError      the local content store cannot be opened, read or written
    ├── DownloadError       a download failed; carries a stable ``code`` and the ``url``
    │   ├── TransportError  no complete answer: refused, reset, truncated, timed out (retried first)
    │   ├── HttpStatusError an HTTP status other than the expected one (404, 4xx, 5xx after retries)
    │   ├── ResponseError   an answer refused: too large, not JSON, unsafe redirect, unusable answer
    │   ├── MirrorIndexError another mirror's index is malformed, or a copy disagrees with it
    │   └── DeadlineError   a fetch or verify-site run stopped at its --deadline (exit 124)
    ├── OutputError         the output directory is unsafe, locked, or cannot be written
    │   └── PagesCheckError  a built tree would break a GitHub Pages deploy (every reason listed)
    ├── SiteCheckError      ``verify-site`` found problems in a published mirror (exit 1);
    │                       carries every ``SiteProblem`` (each with a stable ``code``)
    └── BuildFailedError    the build stopped because records were invalid (exit 1)

Codes are stable strings (``hash_mismatch``, ``bad_signature``...), listed in ``CODES``; tests
assert them, and reports and the CLI print them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generator.fetch import FetchReport
    from generator.sitecheck import SiteReport

# code -> one-line meaning; the README lists the same table.
CODES: dict[str, str] = {
    # strict JSON
    "invalid_utf8": "the bytes are not valid UTF-8",
    "bom": "the document starts with a byte-order mark",
    "invalid_json": "the bytes are not JSON",
    "duplicate_key": "an object has the same key twice",
    "non_finite_number": "NaN, Infinity or a number too large for a double",
    "number_too_large": "an integer with more digits than the bound",
    "float_in_canonical": "a float inside canonical_record",
    "lone_surrogate": "a string holds a lone UTF-16 surrogate",
    "too_deep": "nesting deeper than the bound",
    "too_large": "the document is larger than the size bound",
    "not_an_object": "the document is not a JSON object",
    # record shape and identifiers
    "canonical_schema": "canonical_record does not have the published shape",
    "hash_missing": "canonical_sha256 is absent",
    "hash_mismatch": "canonical_sha256 is not the SHA-256 of the canonical JSON",
    "pith_number_mismatch": "pith_number does not derive from the hash",
    "short_number_mismatch": "short_pith_number does not derive from the hash",
    "alias_mismatch": "an alias does not derive from the record",
    "source_mismatch": "source differs from canonical_record.source",
    "title_hash_mismatch": "paper.title does not hash to title_canon_sha256",
    "bad_identifier": "an identifier (SUFFIX, arXiv id) fails its strict pattern",
    "unsigned_field_mismatch": "--strict: an unsigned field contradicts the signed record",
    # receipt
    "no_receipt": "the record carries no receipt",
    "receipt_malformed": "the receipt lacks a field or has a wrong type or value",
    "receipt_hash_mismatch": "receipt.canonical_sha256 differs from the record's hash",
    "unknown_key": "no pinned key matches the receipt's fingerprint",
    "key_not_valid": "the signing key was not valid at the receipt's signing time",
    "bad_signature": "the Ed25519 signature does not verify",
    # build-level
    "conflicting_copies": "two inputs hold different bytes for the same record",
    "rollback": "an input would replace a published document with one that drops or changes its events",
    # open graph: bundle.json, state.json, integrity.json (PROTOCOL.md §6-7; generator/verify/)
    "bundle_invalid_json": "bundle.json is not strict JSON (not published)",
    "bundle_malformed": "bundle.json lacks a field or has a wrong type",
    "bundle_foreign_record": "bundle.json belongs to a different record (not published)",
    "bundle_hash_mismatch": "the bundle's canonical_sha256 is not the record's hash",
    "bundle_identifier_mismatch": "the bundle's pith number, short number or source does not derive",
    "bundle_alias_mismatch": "a bundle source_alias does not derive from the record",
    "bundle_no_record_created": "the bundle has no record_created event",
    "bundle_record_created_mismatch": "the record_created payload is not the record and its hash",
    "bundle_receipt_invalid": "the record_created receipt does not verify like the record's",
    "bundle_foreign_event": "an event names another record as its subject",
    "bundle_duplicate_event": "the same event occurs more than once",
    "bundle_equivocation": "two different events carry the same event id",
    "state_invalid_json": "state.json is not strict JSON (not published)",
    "state_malformed": "state.json lacks a field or has a wrong type",
    "state_foreign_record": "state.json belongs to a different record (not published)",
    "state_alias_mismatch": "the state's source_aliases differ from the bundle's or do not derive",
    "state_snapshot_missing": "a graph snapshot in the state is not an event of the bundle",
    "state_count_mismatch": "the state's event counts disagree with the bundle",
    "integrity_invalid_json": "integrity.json is not strict JSON (not published)",
    "integrity_malformed": "integrity.json lacks a field or has a wrong type",
    "integrity_foreign_record": "integrity.json is about a different arXiv paper (not published)",
    "integrity_bad_signature": "an integrity event's Ed25519 signature does not verify",
    "integrity_unknown_key": "an integrity event is signed by no pinned key",
    "integrity_key_not_valid": "the signing key was not valid at the integrity event's time",
    "integrity_event_malformed": "an integrity event lacks a field or has a wrong type",
    "integrity_event_foreign": "an integrity event's payload is about a different arXiv paper",
    "integrity_duplicate_event": "the same integrity event id occurs more than once",
    "event_dropped": "a newer copy lacks an event of the copy already held (append-only)",
    # verify-site: a published mirror checked against its own manifest
    "manifest_missing": "the site has no manifest at the well-known path",
    "manifest_invalid": "the manifest is not strict JSON or lacks a required field",
    "root_hash_mismatch": "the manifest's root hash is not the hash of its file list",
    "file_missing": "a file listed in the manifest is absent",
    "file_size_mismatch": "a file's size differs from the manifest",
    "file_hash_mismatch": "a file's SHA-256 differs from the manifest",
    "file_unlisted": "a file is present that the manifest does not list",
    "file_unreadable": "a file cannot be read (or is not a regular file)",
    "signature_missing": "a signature was required or announced but manifest.sig is absent",
    "bad_manifest_signature": "the manifest signature does not verify",
    "signing_key_mismatch": "the manifest was signed by a key other than the expected one",
    "record_page_missing": "a record copy has no record page",
    "record_page_mismatch": "a record page does not show its record's hash and pith number",
    # download (DownloadError); each names the URL
    "connect_failed": "the connection could not be made or was reset",
    "timeout": "the connect, read or whole-request timeout expired",
    "truncated": "the body ended before the announced length (or the connection broke mid-body)",
    "http_status": "an HTTP status that is not an answer (4xx, or 429/5xx after every retry)",
    "not_found": "the server answered 404 or 410",
    "body_too_large": "the decoded body is larger than the bound",
    "not_json": "JSON was expected but the body is something else (an HTML page, text)",
    "redirect_refused": "a redirect to another origin or from https to http",
    "redirect_loop": "redirects that come back to a URL already visited",
    "too_many_redirects": "more redirects than the bound",
    "resolve_failed": "a resolve answer does not plainly name a record",
    "wrong_record": "the record fetched is not the one that was asked for",
    "endpoint_mismatch": "an endpoint copy names another record, or is not a JSON object",
    "index_malformed": "another mirror's index is not in the published shape",
    "index_mismatch": "a copy from another mirror does not hash to what its index says",
    "deadline": "the run reached its --deadline and stopped: a fetch keeps what it committed, "
    "a verify-site concludes nothing",
}


def registered(code: str) -> str:
    """``code`` itself, once checked to be in ``CODES`` (a typo is a bug, not a new code)."""
    if code not in CODES:
        raise ValueError(f"unregistered error code {code!r}")
    return code


class GeneratorError(Exception):
    """Root of every error pith-mirror raises on purpose."""

    exit_code = 1


class UsageError(GeneratorError):
    exit_code = 2


class ConfigError(UsageError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in configuration:\n{lines}")


class RecordError(GeneratorError):
    """Bad data in one document. ``where`` names it: a file, file:line, URL or pith number."""

    def __init__(self, code: str, where: str, detail: str) -> None:
        self.code = registered(code)
        self.where = where
        self.detail = detail
        super().__init__(f"{where}: {code}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        # pool workers send these back pickled; an exception pickles its ``args`` (here the one
        # formatted message) unless told otherwise
        return type(self), (self.code, self.where, self.detail)


class JsonError(RecordError):
    pass


class VerificationError(RecordError):
    pass


class SourceError(GeneratorError):
    pass


class StoreError(SourceError):
    pass


class OutputError(GeneratorError):
    pass


class SiteProblem:
    """One problem found by ``verify-site``: a stable ``code``, the file or URL, and what failed."""

    __slots__ = ("code", "detail", "where")

    def __init__(self, code: str, where: str, detail: str) -> None:
        self.code = registered(code)
        self.where = where
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.where}: {self.code}: {self.detail}"

    def __repr__(self) -> str:
        return f"SiteProblem({self.code!r}, {self.where!r}, {self.detail!r})"


class SiteCheckError(GeneratorError):
    def __init__(self, problems: list[SiteProblem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) found; the mirror does not verify")


class DownloadError(GeneratorError):
    """A download failed. ``url`` names what was asked for; ``code`` is a stable string."""

    def __init__(self, code: str, url: str, detail: str) -> None:
        self.code = registered(code)
        self.url = url
        self.detail = detail
        super().__init__(f"{url}: {code}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.code, self.url, self.detail)


class TransportError(DownloadError):
    """No complete answer arrived (retryable: the client retries these before raising)."""


class HttpStatusError(DownloadError):
    def __init__(self, code: str, url: str, detail: str, status: int) -> None:
        self.status = status
        super().__init__(code, url, detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.code, self.url, self.detail, self.status)


class ResponseError(DownloadError):
    """An answer arrived but is refused (too large, not JSON, unsafe redirect...)."""


class MirrorIndexError(DownloadError):
    pass


class DeadlineError(DownloadError):
    """A run reached its deadline and was stopped, its requests in flight cancelled.

    A fetch stops the way SIGTERM stops it: every record already committed is kept; ``url`` is the
    server fetched from and ``report`` a ``FetchReport``. A ``verify-site`` check stops having
    concluded nothing (the site is not verified): ``url`` is the site (a URL or a folder) and
    ``report`` the ``SiteReport`` of what it found so far, marked ``cut_short`` (never ``ok``).
    ``report`` is not pickled.

    Exit status 124, the status ``timeout(1)`` gives, so a script written for
    ``timeout 1h pith-mirror fetch`` reads ``pith-mirror fetch --deadline 3600`` the same way."""

    exit_code = 124

    def __init__(
        self, code: str, url: str, detail: str, report: FetchReport | SiteReport | None = None
    ) -> None:
        super().__init__(code, url, detail)
        self.report = report


class PagesCheckError(OutputError):
    """A tree that cannot be deployed to GitHub Pages; ``problems`` lists every reason."""

    def __init__(self, root: object, problems: list[str]) -> None:
        self.root = root
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{root}: not deployable to GitHub Pages ({len(problems)} problem(s)):\n{lines}")


class BuildFailedError(GeneratorError):
    def __init__(self, failures: list[RecordError]) -> None:
        self.failures = failures
        super().__init__(
            f"{len(failures)} invalid record(s); nothing was published "
            "(use --skip-invalid to publish the valid ones)"
        )
