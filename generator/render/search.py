"""Client-side search: an inverted index built at build time, split into small script shards.

Layout (all under ``search/``; every shard is a classic script, so the page works from
``file://`` where ``fetch()`` of local files is blocked, as well as over HTTP):

``manifest.js``
    ``PithSearch.manifest({...})``: format version, document count, documents per shard, the list
    of term-shard prefixes ("leaves") and the stop words. The only index file a search page loads
    before the reader types.
``t/{leaf}.js``
    ``PithSearch.terms(leaf, {term: [delta, delta, ...], ...})``: every indexed term starting
    with ``leaf``, with its postings (document numbers, delta-encoded, ascending). Leaves start
    as one character and are split one character deeper while a shard is over ``LEAF_BYTES``.
``d/{n}.js``
    ``PithSearch.docs(n, [[suffix, pith_number, title, authors, arxiv_id, version, category,
    date], ...])``: documents ``n*DOCS_PER_SHARD`` onwards.

Documents are numbered newest first (by submission time), so ascending postings list the newest
matches first and the first screen of results needs only the first document shards. A query is
the AND of its words; its last word also matches as a prefix. Terms are title words, author
names, categories (``cs.lg`` and its parts), the submission year, the arXiv id and the first 8
characters of the Pith number's SUFFIX (the short number).
"""

from __future__ import annotations

import json
import re
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence

from generator.columns import Row
from generator.render.records import newest_rows
from generator.render.site import OutputFile, RecordSummary

FORMAT = 1
DOCS_PER_SHARD = 128
LEAF_BYTES = 48 * 1024
MAX_LEAF_DEPTH = 6
TITLE_CHARS = 240
AUTHOR_CHARS = 160
STOP_WORDS = ("a an and are as at by for from in into is of on or the to via with without").split()
_STOP = frozenset(STOP_WORDS)
_TOKEN = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
_LATEX_ACCENT = re.compile(r"\\[`'\"^~=.]\{?([A-Za-z])\}?")
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def fold(text: str) -> str:
    """Lower case, LaTeX accents and Unicode combining marks removed (``Ren\\'e`` -> ``rene``).
    static/search.js applies the same steps to queries."""
    text = _LATEX_ACCENT.sub(r"\1", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("M"))
    return text.lower()


def tokens(text: str) -> list[str]:
    """Words of ``text``; a compound (``dark-matter``, ``cs.lg``) gives itself and its parts."""
    out: list[str] = []
    for m in _TOKEN.finditer(fold(text)):
        word = m.group(0)
        out.append(word)
        if "." in word or "-" in word:
            out.extend(re.split(r"[.\-]", word))
    return [t for t in out if len(t) >= 2 and t not in _STOP]


def leaf_name(prefix: str) -> str:
    """A file-name-safe spelling of a term prefix: [a-z0-9] as is, anything else ``_{hex}_``."""
    return "".join(c if c in _SAFE_CHARS else f"_{ord(c):x}_" for c in prefix)


def doc_terms(s: Row) -> set[str]:
    terms = set(tokens(s.title)) | set(tokens(s.authors))
    for cat in (s.primary_cat, *s.cross_cats):
        terms.update(tokens(cat))
    terms.add(s.submitted_at[:4])
    terms.add(s.arxiv_id.lower())
    if "/" in s.arxiv_id:  # old-style id: the number part, so "cs/0004010" finds it
        terms.add(s.arxiv_id.split("/", 1)[1])
    terms.add(s.suffix[:8].lower())
    return terms


def _js_text(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # U+2028/2029 are legal in JSON and in modern JS, but escape them for older parsers.
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _js(call: str, *args: object) -> bytes:
    return f"{call}({','.join(_js_text(a) for a in args)});\n".encode()


class Postings:
    """term -> ascending document numbers, compact: an int while a term has one document (most
    identifier terms), an ``array('I')`` (4 bytes a number) after that."""

    def __init__(self) -> None:
        self.terms: dict[str, int | array[int]] = {}

    def add(self, term: str, doc: int) -> None:
        have = self.terms.get(term)
        if have is None:
            self.terms[term] = doc
        elif isinstance(have, int):
            self.terms[term] = array("I", (have, doc))
        else:
            have.append(doc)

    def count(self, term: str) -> int:
        have = self.terms[term]
        return 1 if isinstance(have, int) else len(have)

    def deltas(self, term: str) -> list[int]:
        have = self.terms[term]
        if isinstance(have, int):
            return [have]
        out, prev = [], 0
        for i in have:
            out.append(i - prev)
            prev = i
        return out


def _split_leaves(postings: Postings) -> dict[str, list[str]]:
    """prefix -> the terms in that leaf shard. Leaves are split until small or at max depth.

    A term exactly as long as a split prefix stays in a leaf named by that prefix; the client
    uses the longest leaf that is a prefix of a term to find it.
    """

    def size(ts: Sequence[str]) -> int:
        return sum(len(t) + 4 + 3 * postings.count(t) for t in ts)

    groups: dict[str, list[str]] = defaultdict(list)
    for t in sorted(postings.terms):
        groups[t[:1]].append(t)
    leaves: dict[str, list[str]] = {}
    work = sorted(groups.items())
    while work:
        prefix, ts = work.pop()
        depth = len(prefix)
        if size(ts) <= LEAF_BYTES or depth >= MAX_LEAF_DEPTH or all(len(t) <= depth for t in ts):
            leaves[prefix] = ts
            continue
        children: dict[str, list[str]] = defaultdict(list)
        for t in ts:
            children[t[: depth + 1]].append(t)
        # terms equal to the prefix land in the child named by the prefix itself
        for child, cts in sorted(children.items()):
            if child == prefix:
                leaves[prefix] = cts
            else:
                work.append((child, cts))
    return leaves


def _doc_row(s: Row) -> list[object]:
    return [
        s.suffix,
        s.pith_number,
        s.title[:TITLE_CHARS],
        s.authors[:AUTHOR_CHARS],
        s.arxiv_id,
        s.version,
        s.primary_cat,
        s.submitted_at[:10],
    ]


def doc_text(s: Row) -> str:
    """A record's document in a ``d/{n}.js`` shard, serialised as ``_js`` serialises it."""
    return _js_text(_doc_row(s))


def docs_js(shard: int, docs: Sequence[str]) -> bytes:
    """A document shard from documents made by ``doc_text``: the bytes of
    ``_js("PithSearch.docs", shard, rows)``."""
    return f"PithSearch.docs({shard},[{','.join(docs)}]);\n".encode()


def terms_text(s: Row) -> str:
    """A record's terms as stored with it (``generator.columns``): sorted, space-separated."""
    return " ".join(sorted(doc_terms(s)))


def _with_terms(records: Sequence[RecordSummary]) -> Iterator[tuple[str, str]]:
    """Newest first: each record's document and its terms (stored, or made now)."""
    view = getattr(records, "pairs", None)
    if callable(view):
        stored: Iterator[tuple[str, str]] = view("search_doc", "terms", "submitted_at", reverse=True)
        return stored
    return ((doc_text(row), terms_text(row)) for row in newest_rows(records))


def build_search(records: Sequence[RecordSummary]) -> Iterator[OutputFile]:
    """All search files for ``records`` in one newest-first pass: document shards are written as
    they fill; only the postings (about 4 bytes per term occurrence) stay in memory."""
    postings = Postings()
    docs: list[str] = []
    shard = 0
    n = 0
    for n, (text, terms) in enumerate(_with_terms(records), start=1):
        doc = n - 1
        for term in terms.split(" ") if terms else ():
            postings.add(term, doc)
        docs.append(text)
        if len(docs) == DOCS_PER_SHARD:
            yield OutputFile(f"search/d/{shard}.js", docs_js(shard, docs))
            shard += 1
            docs = []
    if docs:
        yield OutputFile(f"search/d/{shard}.js", docs_js(shard, docs))
    leaves = _split_leaves(postings)
    manifest = {
        "format": FORMAT,
        "docs": n,
        "docs_per_shard": DOCS_PER_SHARD,
        "leaves": sorted(leaves),
        "stop_words": STOP_WORDS,
    }
    for prefix in sorted(leaves):
        data = {t: postings.deltas(t) for t in leaves[prefix]}
        yield OutputFile(f"search/t/{leaf_name(prefix)}.js", _js("PithSearch.terms", prefix, data))
    # last: a page that loads the manifest finds every shard it names already written
    yield OutputFile("search/manifest.js", _js("PithSearch.manifest", manifest))
