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

Documents are numbered **oldest first** (by submission time, then SUFFIX), so a new newest record
is appended: every document shard but the last keeps its bytes, and each term's postings only grow
at the end. The browser reads the intersected postings from the end, so the newest matches are
listed first and the first screen of results needs only the highest document shards. A query is
the AND of its words; its last word also matches as a prefix. Terms are title words, author
names, categories (``cs.lg`` and its parts), the submission year, the arXiv id and the first 8
characters of the Pith number's SUFFIX (the short number).

Document shards and term shards are ``CachedPage``s: a key digests exactly what goes into the
file (a shard's documents; a leaf's terms with their document numbers), so an incremental build
carries every shard whose key is unchanged instead of serialising it again. The manifest's key
digests every document and its terms in order (one read of a covering index): when the previous
build wrote the manifest under the same key, nothing in the index changed, and the step keeps
the whole ``search/`` directory (``KeptTree``) without building the postings.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import sys
import unicodedata
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from itertools import accumulate, chain, pairwise

from generator.columns import Row
from generator.render.cached import CachedPage, KeptTree, marker, previous_key
from generator.render.records import rows
from generator.render.site import OutputFile, RecordSummary

FORMAT = 2  # 2: documents numbered oldest first
MANIFEST = "search/manifest.js"
DOCS_PER_SHARD = 128
LEAF_BYTES = 48 * 1024
MAX_LEAF_DEPTH = 6
TITLE_CHARS = 240
AUTHOR_CHARS = 160
STOP_WORDS = ("a an and are as at by for from in into is of on or the to via with without").split()
_STOP = frozenset(STOP_WORDS)
_TOKEN = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
_PARTS = re.compile(r"[.\-]")  # where a compound token splits into its parts
_LATEX_ACCENT = re.compile(r"\\[`'\"^~=.]\{?([A-Za-z])\}?")
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class _WithoutMarks(dict[int, "int | None"]):
    """A ``str.translate`` table that drops Unicode combining marks (categories M*) and keeps
    every other character. Each code point's category is looked up once, on first sight; at
    most ``_MARKS_KEPT`` code points are remembered (a text of many distinct characters cannot
    grow it without bound)."""

    def __missing__(self, code: int) -> int | None:
        result = None if unicodedata.category(chr(code)).startswith("M") else code
        if len(self) < _MARKS_KEPT:
            self[code] = result
        return result


_MARKS_KEPT = 1 << 16
_WITHOUT_MARKS = _WithoutMarks()


def fold(text: str) -> str:
    """Lower case, LaTeX accents and Unicode combining marks removed (``Ren\\'e`` -> ``rene``).
    static/search.js applies the same steps to queries."""
    text = _LATEX_ACCENT.sub(r"\1", text)
    if text.isascii():  # NFKD keeps ASCII as it is, and no ASCII character is a mark
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_WITHOUT_MARKS).lower()


def tokens(text: str) -> list[str]:
    """Words of ``text``; a compound (``dark-matter``, ``cs.lg``) gives itself and its parts."""
    out: list[str] = []
    for word in _TOKEN.findall(fold(text)):
        out.append(word)
        if "." in word or "-" in word:
            out.extend(_PARTS.split(word))
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


def _le(numbers: Iterable[array[int]]) -> bytes:
    """Arrays of ``int32`` as one run of little-endian bytes (keys do not depend on the machine)."""
    data = b"".join(map(array.tobytes, numbers))
    if sys.byteorder != "little":
        swapped = array("i", data)
        swapped.byteswap()
        data = swapped.tobytes()
    return data


class Postings:
    """term -> ascending document numbers (4 bytes each). Add documents in ascending order
    (``add_document``), then ``finish``: ``terms`` lists every term in code-point order,
    ``lists`` and ``counts`` their document numbers and how many there are."""

    def __init__(self) -> None:
        self._docs: defaultdict[str, array[int]] = defaultdict(partial(array, "i"))
        self.terms: list[str] = []
        self.lists: list[array[int]] = []
        self.counts: list[int] = []

    def add_document(self, doc: int, terms: str) -> None:
        """``terms`` space-separated (as ``terms_text`` stores them); ``doc`` above every earlier one."""
        docs = self._docs
        for term in terms.split(" ") if terms else ():
            docs[term].append(doc)

    def finish(self) -> None:
        self.terms = sorted(self._docs)
        self.lists = list(map(self._docs.__getitem__, self.terms))
        self.counts = list(map(len, self.lists))
        self._docs.clear()

    def deltas(self, i: int) -> list[int]:
        """The postings of ``terms[i]``, delta-coded."""
        docs = self.lists[i]
        return [docs[0], *(b - a for a, b in pairwise(docs))]

    def leaf_key(self, prefix: str, lo: int, hi: int) -> str:
        """A digest of everything in the leaf of ``terms[lo:hi]``: its prefix, its terms and each
        term's document numbers (equal keys, equal files)."""
        names = json.dumps([prefix, self.terms[lo:hi]], ensure_ascii=False)
        h = hashlib.sha256(f"pith-mirror search leaf {FORMAT}\n{names}\n".encode("utf-8", "surrogatepass"))
        h.update(_le([array("i", self.counts[lo:hi])]))
        h.update(_le(self.lists[lo:hi]))
        return h.hexdigest()

    def leaf_js(self, prefix: str, lo: int, hi: int) -> bytes:
        data = {self.terms[i]: self.deltas(i) for i in range(lo, hi)}
        return _js("PithSearch.terms", prefix, data)


def _prefix_end(terms: Sequence[str], prefix: str, lo: int, hi: int) -> int:
    """The end of the run of ``terms[lo:hi]`` (sorted, the run starting at ``lo``) that starts
    with ``prefix``."""
    last = ord(prefix[-1]) if prefix else -1
    if 0 <= last < sys.maxunicode:
        return bisect_left(terms, prefix[:-1] + chr(last + 1), lo, hi)
    end = lo  # "" or a prefix ending in the last code point: walk
    while end < hi and terms[end].startswith(prefix):
        end += 1
    return end


def _split_leaves(postings: Postings) -> list[tuple[str, int, int]]:
    """(prefix, lo, hi): the leaf shards, each the terms ``postings.terms[lo:hi]``, in prefix
    order. Leaves are split one character deeper until small or at ``MAX_LEAF_DEPTH``.

    A term exactly as long as a split prefix stays in a leaf named by that prefix; the client
    uses the longest leaf that is a prefix of a term to find it. Terms are sorted, so the terms
    under a prefix are one run of them, and a leaf's size is a difference of running sums.
    """
    terms = postings.terms
    sums = [0, *accumulate(len(t) + 4 + 3 * c for t, c in zip(terms, postings.counts, strict=True))]

    def children(prefix: str, lo: int, hi: int) -> Iterator[tuple[str, int, int]]:
        depth = len(prefix) + 1
        while lo < hi:
            child = terms[lo][:depth]
            end = _prefix_end(terms, child, lo + 1, hi) if len(child) == depth else lo + 1
            yield child, lo, end
            lo = end

    leaves: list[tuple[str, int, int]] = []
    work = list(children("", 0, len(terms)))
    while work:
        prefix, lo, hi = work.pop()
        depth = len(prefix)
        alone = hi - lo == 1 and len(terms[lo]) <= depth
        if sums[hi] - sums[lo] <= LEAF_BYTES or depth >= MAX_LEAF_DEPTH or alone:
            leaves.append((prefix, lo, hi))
            continue
        for child, clo, chi in children(prefix, lo, hi):
            # a term equal to the prefix (sorted first) is a leaf named by the prefix itself
            if child == prefix:
                leaves.append((prefix, clo, chi))
            else:
                work.append((child, clo, chi))
    return sorted(leaves)


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
    """Oldest first (submission time, then SUFFIX): each record's document and its terms
    (stored, or made now)."""
    db = getattr(records, "db", None)
    if isinstance(db, sqlite3.Connection) and callable(getattr(records, "pairs", None)):
        # read from the summaries_search index alone (a table scan follows each row's overflow
        # pages: at 100,000 records 0.15 s against 0.8 s)
        cur = db.execute("SELECT search_doc, terms FROM summaries ORDER BY submitted_at, suffix")
        return chain.from_iterable(iter(lambda: cur.fetchmany(512), []))
    return ((doc_text(row), terms_text(row)) for row in rows(records, "submitted_at"))


def _index_hash() -> hashlib._Hash:
    """The manifest's key: SHA-256 over the layout's constants, then (``update``) each record's
    document and terms, oldest first (neither holds a newline): everything the index shows."""
    layout = ["pith-mirror search", FORMAT, DOCS_PER_SHARD, LEAF_BYTES, MAX_LEAF_DEPTH, STOP_WORDS]
    return hashlib.sha256(json.dumps(layout).encode())


def _hash_line(text: str, terms: str) -> bytes:
    return f"{text}\n{terms}\n".encode("utf-8", "surrogatepass")


def index_digest(records: Sequence[RecordSummary]) -> str:
    """The manifest's key for ``records`` (``_index_hash``), in one read of their documents."""
    h = _index_hash()
    for text, terms in _with_terms(records):
        h.update(_hash_line(text, terms))
    return h.hexdigest()


def _doc_shard(shard: int, docs: list[str]) -> CachedPage:
    key = hashlib.sha256(f"pith-mirror search docs {FORMAT}\n{shard}\n".encode())
    key.update(",".join(docs).encode("utf-8", "surrogatepass"))  # as docs_js joins them
    dest = f"search/d/{shard}.js"
    return CachedPage(dest, key.hexdigest(), lambda: OutputFile(dest, docs_js(shard, docs)))


def _leaf(postings: Postings, prefix: str, lo: int, hi: int) -> CachedPage:
    dest = f"search/t/{leaf_name(prefix)}.js"
    return CachedPage(
        dest, postings.leaf_key(prefix, lo, hi), lambda: OutputFile(dest, postings.leaf_js(prefix, lo, hi))
    )


def build_search(
    records: Sequence[RecordSummary], *, unchanged: bool = False
) -> Iterator[OutputFile | CachedPage | KeptTree]:
    """All search files for ``records`` in one oldest-first pass: document shards are yielded as
    they fill; only the postings (4 bytes a term occurrence) stay in memory. Every shard
    is a ``CachedPage`` (rendered only when its key is new); the manifest comes last. When the
    previous build's manifest has this index's digest, only ``KeptTree("search/")``; with
    ``unchanged`` (every record's document, terms and time are the previous build's:
    ``SiteContext.unchanged``), a manifest of the previous build is taken to have it."""
    previous = previous_key(records, MANIFEST)
    if previous is not None and unchanged:
        yield KeptTree("search/")
        return
    digest = index_digest(records) if previous is not None else None
    if digest is not None and digest == previous:
        yield KeptTree("search/")
        return
    postings = Postings()
    docs: list[str] = []
    shard = 0
    n = 0
    h = _index_hash()
    for n, (text, terms) in enumerate(_with_terms(records), start=1):
        h.update(_hash_line(text, terms))
        postings.add_document(n - 1, terms)
        docs.append(text)
        if len(docs) == DOCS_PER_SHARD:
            yield _doc_shard(shard, docs)
            shard += 1
            docs = []
    if docs:
        yield _doc_shard(shard, docs)
    postings.finish()
    leaves = _split_leaves(postings)
    for prefix, lo, hi in leaves:
        yield _leaf(postings, prefix, lo, hi)
    manifest = {
        "format": FORMAT,
        "docs": n,
        "docs_per_shard": DOCS_PER_SHARD,
        "leaves": [prefix for prefix, _lo, _hi in leaves],
        "stop_words": STOP_WORDS,
    }
    # last: a page that loads the manifest finds every shard it names already written
    yield marker(records, OutputFile(MANIFEST, _js("PithSearch.manifest", manifest)), h.hexdigest)
