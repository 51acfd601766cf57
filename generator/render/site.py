"""The renderer: one jinja2 environment, autoescape on for every template."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from generator import GENERATOR, __version__, paths
from generator.config import Config
from generator.content import load_pages, nav_entries
from generator.keyring import Keyring
from generator.render.env import Environment
from generator.render.filters import arxiv_abs_url, clean_text, safe_url
from generator.render.mathml import has_math, render_math
from generator.render.opengraph import render_open_graph
from generator.streamed import dumps_indented
from generator.verify import VerifiedRecord
from generator.verify.record import NOT_CHECKED, UNSIGNED, VERIFIED, WARNING

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'"
)
DERIVED_NOTE = (
    "Derived by this mirror from the record's own {field} field. This is not a byte copy of "
    "Pith's endpoint, whose shape is not published."
)


ROW_ROOT = "<pith-mirror-root>"  # stands for the path to the site root in stored rows


@dataclass(frozen=True)
class OutputFile:
    dest_path: str
    data: bytes


@dataclass(frozen=True)
class RecordSummary:
    """What listings need of a record: small, picklable, sortable."""

    suffix: str
    pith_number: str
    arxiv_id: str
    version: int
    title: str
    authors: str
    submitted_at: str
    primary_cat: str
    canonical_sha256: str
    raw_sha256: str
    key_id: str
    key_fingerprint: str
    signed_at: str | None
    where: str
    checks: tuple[tuple[str, str, str], ...]
    outputs: tuple[str, ...]
    # (document, status, failed codes) for bundle/state/integrity, when present (render/opengraph.py)
    open_graph: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()  # what the source wants the reader told (shown in the report)
    cross_cats: tuple[str, ...] = ()


def dumps_derived(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def format_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Renderer:
    def __init__(self, config: Config, keyring: Keyring) -> None:
        self.config = config
        self.keyring = keyring
        self.env = Environment(
            loader=jinja2.FileSystemLoader(str(config.templates_dir)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["text"] = clean_text
        self.env.filters["math"] = render_math
        self.env.filters["has_math"] = has_math
        self.content_pages = load_pages(config.content_dir)
        self.env.globals["nav_pages"] = nav_entries(self.content_pages)
        self.env.globals["canonical_url"] = self._canonical_url
        self.env.globals.update(
            generator=GENERATOR,
            version=__version__,
            site_title=config.title,
            csp=CSP,
            keyring=keyring.describe(),
            upstream=config.upstream.rstrip("/"),
            base_url=config.base_url,
            status_words={
                VERIFIED: "verified",
                UNSIGNED: "unsigned",
                NOT_CHECKED: "not checked",
                WARNING: "warning",
            },
        )

    def record_row(self, row: Any) -> str:
        """A record's item in lists of records (``_record_row.html``; ``row`` is a
        ``generator.columns.Row``), linked from the site root behind ``ROW_ROOT``."""
        link_files = self.config.link_files

        def link(to_path: str) -> Markup:
            # the marker is markup (not escaped), the path is escaped as every link is
            return Markup(ROW_ROOT) + escape(paths.relative_url("index.html", to_path, link_files=link_files))

        return self.env.get_template("_record_row.html").render(link=link, s=row).strip()

    @staticmethod
    def placed_rows(page_path: str, rows: Iterable[str]) -> list[Markup]:
        """Rows made by ``record_row``, their links fitted to the page at ``page_path``.
        ``ROW_ROOT`` starts with ``<``, which data never produces (autoescape)."""
        prefix = "../" * page_path.count("/")
        return [Markup(row.replace(ROW_ROOT, prefix)) for row in rows]

    def report_rows(self, entry: dict[str, Any]) -> tuple[str, str]:
        """A record's row in the report's records table and in its open-graph table (empty
        when the record has no open-graph documents): HTML from autoescaped templates."""
        link = self._linker("verification/index.html")
        row = self.env.get_template("_report_row.html").render(link=link, rec=entry)
        og = self.env.get_template("_report_og_row.html").render(link=link, rec=entry)
        return row.strip(), og.strip()

    # -- helpers -----------------------------------------------------------------------------
    def _canonical_url(self, page_path: str) -> str | None:
        """Absolute URL of a page (directory form) when ``--base-url`` is set."""
        if not self.config.base_url:
            return None
        if page_path.endswith("index.html"):
            page_path = page_path[: -len("index.html")]
        return self.config.base_url + page_path

    def _linker(self, page_path: str) -> Callable[[str], str]:
        def link(to_path: str) -> str:
            return paths.relative_url(page_path, to_path, link_files=self.config.link_files)

        return link

    def page(self, template: str, dest_path: str, **context: Any) -> OutputFile:
        html = self.env.get_template(template).render(
            link=self._linker(dest_path), page_path=dest_path, **context
        )
        return OutputFile(dest_path, html.encode("utf-8"))

    # -- records -----------------------------------------------------------------------------
    def render_record(self, rec: VerifiedRecord) -> tuple[list[OutputFile], RecordSummary]:
        suffix = rec.suffix
        files = [OutputFile(paths.record_json(suffix), rec.raw)]
        copies: dict[str, tuple[str, bool]] = {}  # kind -> (path, derived?)
        for kind, dest, fieldname in (
            ("graph", paths.graph_json(suffix), "graph_snapshot"),
            ("events", paths.events_json(suffix), "events"),
        ):
            fetched = rec.endpoint(kind)
            if fetched is not None:
                files.append(OutputFile(dest, fetched))
                copies[kind] = (dest, False)
                continue
            body = self._derived_body(rec, fieldname)
            if body is not None:
                files.append(OutputFile(dest, dumps_derived(self._derived(rec, fieldname, body))))
                copies[kind] = (dest, True)
        og_files, og_copies, og_view, og = render_open_graph(rec, self.keyring)
        files += [OutputFile(dest, data) for dest, data in og_files]
        copies.update(og_copies)
        view = record_view(rec)
        page_path = paths.record_page(suffix)
        files.append(self.page("record.html", page_path, r=view, copies=copies, og=og_view))
        short = self.page(
            "paper.html", paths.short_page(suffix[:8]), short8=suffix[:8], targets=[(suffix, view["title"])]
        )
        if self.config.paper_pages:
            files.append(self._paper_page(rec.short_pith_number[5:], short, [(suffix, view["title"])]))
        files.append(short)
        summary = RecordSummary(
            suffix=suffix,
            pith_number=rec.pith_number,
            arxiv_id=rec.arxiv_id,
            version=rec.version,
            title=view["title"],
            authors=view["authors"],
            submitted_at=rec.submitted_at,
            primary_cat=rec.metadata["primary_cat"],
            canonical_sha256=rec.canonical_sha256,
            raw_sha256=rec.raw_sha256,
            key_id=rec.key.key_id,
            key_fingerprint=rec.key.fingerprint_hex,
            signed_at=rec.signed_at,
            where=rec.where,
            checks=tuple((c.name, c.status, c.detail) for c in rec.checks),
            outputs=tuple(f.dest_path for f in files),
            open_graph=og.summary(),
            notes=rec.notes,
            cross_cats=tuple(rec.metadata["cross_cats_sorted"]),
        )
        return files, summary

    @staticmethod
    def _derived_body(rec: VerifiedRecord, fieldname: str) -> dict[str, Any] | None:
        doc = rec.doc
        if fieldname == "graph_snapshot" and isinstance(doc.get("graph_snapshot"), dict):
            return {"graph_snapshot": doc["graph_snapshot"]}
        if fieldname == "events" and isinstance(doc.get("events"), list):
            body: dict[str, Any] = {"events": doc["events"]}
            if isinstance(doc.get("event_summary"), dict):
                body["event_summary"] = doc["event_summary"]
            return body
        return None

    def _derived(self, rec: VerifiedRecord, fieldname: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "pith_mirror_derived": True,
            "derived_by": GENERATOR,
            "note": DERIVED_NOTE.format(field=fieldname),
            "pith_number": rec.pith_number,
            "canonical_sha256": rec.canonical_sha256,
            "derived_from": {
                "path": "/" + paths.record_json(rec.suffix),
                "sha256": rec.raw_sha256,
                "field": fieldname,
            },
            **body,
        }

    def _paper_page(self, short8: str, short: OutputFile, targets: Sequence[tuple[str, str]]) -> OutputFile:
        """``/paper/{SHORT8}/`` of one record. It renders paper.html with the same short number,
        targets and directory depth as ``/pith/{SHORT8}/``, and paper.html sets its own canonical
        link, so its bytes are those of ``short``: taken from it instead of rendered again
        (tests/unit/test_render_reuse.py checks they match a separate render)."""
        dest = paths.paper_page(short8)
        if short8 == short.dest_path.split("/")[1] and dest.count("/") == short.dest_path.count("/"):
            return OutputFile(dest, short.data)
        return self.paper_redirect(short8, targets)

    def paper_redirect(self, short8: str, targets: Sequence[tuple[str, str]]) -> OutputFile:
        """``/paper/{SHORT8}/``: a redirect to the record, or a choice when the short number is shared."""
        return self.page("paper.html", paths.paper_page(short8), short8=short8, targets=list(targets))

    # -- site pages --------------------------------------------------------------------------
    def render_fixed(self) -> list[OutputFile]:
        files = [
            self.page("404.html", "404.html"),
            OutputFile(".nojekyll", b""),
            OutputFile("robots.txt", self._robots()),
        ]
        static = self.config.static_dir
        for src in sorted(p for p in static.rglob("*") if p.is_file() and not p.name.startswith(".")):
            files.append(OutputFile("static/" + src.relative_to(static).as_posix(), src.read_bytes()))
        return files

    def _robots(self) -> bytes:
        lines = ["User-agent: *", "Allow: /"]
        if self.config.base_url:
            lines.append(f"Sitemap: {self.config.base_url}sitemap.xml")
        return ("\n".join(lines) + "\n").encode()


def record_view(rec: VerifiedRecord) -> dict[str, Any]:
    """Everything the record page shows, with signed and unsigned data kept apart."""
    doc = rec.doc
    paper = doc.get("paper") if isinstance(doc.get("paper"), dict) else {}
    assert isinstance(paper, dict)
    meta = rec.metadata
    receipt = doc["receipt"]
    links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
    assert isinstance(links, dict)
    graph = doc.get("graph_snapshot") if isinstance(doc.get("graph_snapshot"), dict) else None
    inbound = doc.get("inbound_citations") if isinstance(doc.get("inbound_citations"), dict) else None
    aliases = []
    for alias in doc.get("aliases") or []:
        if isinstance(alias, dict):
            aliases.append(
                {
                    "kind": clean_text(alias.get("alias_kind"), 40),
                    "value": clean_text(alias.get("alias_value"), 200),
                    "created_at": clean_text(alias.get("created_at"), 40),
                }
            )
    upstream_links = []
    for name in ("html", "json", "graph_json", "events_json", "paper"):
        if name in links:
            upstream_links.append(
                {"name": name, "url": safe_url(links[name]), "text": clean_text(links[name], 300)}
            )
    return {
        "suffix": rec.suffix,
        "pith_number": rec.pith_number,
        "short_pith_number": rec.short_pith_number,
        "canonical_sha256": rec.canonical_sha256,
        "raw_sha256": rec.raw_sha256,
        "arxiv_id": rec.arxiv_id,
        "version": rec.version,
        "arxiv_url": arxiv_abs_url(rec.arxiv_id, rec.version),
        "doi": f"10.48550/arxiv.{rec.arxiv_id}",
        "title": clean_text(rec.title, 1000) if rec.title else "",
        "title_verified": rec.title is not None,
        "authors": clean_text(paper.get("authors_text"), 5000),
        "abstract_excerpt": clean_text(paper.get("abstract_excerpt"), 5000),
        "headline": clean_text(paper.get("headline"), 1000),
        "submitted_at": meta["submitted_at"],
        "primary_cat": meta["primary_cat"],
        "cross_cats": list(meta["cross_cats_sorted"]),
        "license": meta["license"],
        "license_url": safe_url(meta["license"]),
        "receipt": {
            "key_id": rec.key.key_id,
            "hint_key_id": clean_text(receipt.get("key_id"), 80),
            "fingerprint": rec.key.fingerprint_hex,
            "signature_b64": rec.signature_b64,
            "signed_at": clean_text(rec.signed_at, 40),
            "builder_version": clean_text(receipt.get("builder_version"), 120),
            "receipt_version": clean_text(receipt.get("receipt_version"), 40),
        },
        "notes": [clean_text(n, 1000) for n in rec.notes],
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in rec.checks],
        "aliases": aliases,
        "graph": _graph_summary(graph, inbound),
        "upstream_links": upstream_links,
        # json.dumps(..., indent=2, sort_keys=True, ensure_ascii=False), faster: a canonical
        # record holds no floats (verify_record refuses them), which dumps_indented does not take
        "canonical_pretty": dumps_indented(rec.canonical, 2),
        # for the in-browser check and the footer (templates/_verify.html, _provenance.html)
        "record_text": rec.raw.decode("utf-8"),
        "pinned_key": {
            "key_id": rec.key.key_id,
            "public_key_hex": rec.key.public_key_hex,
            "fingerprint_sha256_hex": rec.key.fingerprint_hex,
        },
        "origin_url": safe_url(rec.origin_url) if rec.origin_url else None,
        "origin_text": clean_text(rec.origin_url, 500) if rec.origin_url else None,
        "fetched_at": clean_text(rec.fetched_at, 40) if rec.fetched_at else None,
    }


def _count(section: Any, key: str = "count") -> int | None:
    if (
        isinstance(section, dict)
        and isinstance(section.get(key), int)
        and not isinstance(section.get(key), bool)
    ):
        value: int = section[key]
        return value
    return None


def _graph_summary(graph: dict[str, Any] | None, inbound: dict[str, Any] | None) -> dict[str, Any] | None:
    if graph is None and inbound is None:
        return None
    graph = graph or {}
    integrity = graph.get("integrity") if isinstance(graph.get("integrity"), dict) else {}
    assert isinstance(integrity, dict)
    summary = integrity.get("summary") if isinstance(integrity.get("summary"), dict) else {}
    assert isinstance(summary, dict)
    clean = integrity.get("clean")
    return {
        "claims": _count(graph.get("claims")),
        "references": _count(graph.get("references")),
        "references_resolved": _count(graph.get("references"), "resolved_work"),
        "author_claims": _count(graph.get("author_claims")),
        "integrity_clean": clean if isinstance(clean, bool) else None,
        "integrity_counts": {k: _count(summary, k) for k in ("critical", "advisory", "informational")},
        "inbound": _count(inbound),
        "builder_version": clean_text(graph.get("builder_version"), 120),
    }
