"""The in-browser record check (static/verify.js) in real Chromium, from file://, no network.

Also known-answer tests of the JavaScript against the Python verifier: canonical JSON, SHA-256,
base32, the title rule and whole-record verdicts, on the real records and on generated ones,
with WebCrypto and with the fallbacks (TweetNaCl for Ed25519, the script's own SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from playwright.sync_api import Browser, Page

from generator import synth as synthmod
from generator.cli import main
from generator.errors import RecordError
from generator.identifiers import suffix_from_hash, title_canon_sha256
from generator.keyring import PITH_KEY, Keyring, load_keyring
from generator.sources import RawRecord
from generator.strictjson import canonical_json
from generator.synth import dump_record, make_record, random_record
from generator.verify import verify_record

pytestmark = pytest.mark.browser

RECORDS = Path(__file__).parents[2] / "content" / "records"
UNSIGNED = Path(__file__).parents[1] / "fixtures" / "unsigned"
TRICKY_TITLE = "Über  café:\t$\\eta^\\prime$ 𝔊 «ΟΔΟΣ» </script><b>İstanbul</b>\u2028 Straße\u00a0"

NO_ED25519 = """
(() => {
  const subtle = crypto.subtle;
  const orig = subtle.importKey.bind(subtle);
  subtle.importKey = function (format, key, alg, ...rest) {
    const name = typeof alg === "string" ? alg : alg && alg.name;
    if (String(name).toLowerCase() === "ed25519") {
      return Promise.reject(new DOMException("Ed25519 disabled by the test", "NotSupportedError"));
    }
    return orig(format, key, alg, ...rest);
  };
})();
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_key: synthmod.TestKey) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("browser")
    inputs = root / "in"
    inputs.mkdir()
    for rec in sorted(RECORDS.glob("*.json")):
        shutil.copy(rec, inputs / rec.name)
    tricky = make_record(test_key, title=TRICKY_TITLE, arxiv_id="2601.00077", authors='Ö. Ğ, "q" 😀')
    (inputs / "tricky.json").write_bytes(dump_record(tricky))
    keyring = root / "keyring.json"
    keyring.write_bytes(test_key.keyring_json())
    out = root / "site"
    assert (
        main(["build", str(inputs), "-o", str(out), "--keyring", str(keyring), "--link-style", "file", "-q"])
        == 0
    )
    suffixes = sorted(p.stem for p in (out / "pith").glob("*.json"))
    return {"out": out, "suffixes": suffixes, "tricky": suffix_from_hash(tricky["canonical_sha256"])}


class Tab:
    """One reused page; records requests and console errors since the last ``open``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Page:
        self.requests.clear()
        self.errors.clear()
        self.page.goto(url)
        self.page.wait_for_function("document.getElementById('pith-verify').dataset.verified !== undefined")
        return self.page

    @property
    def offline_and_clean(self) -> bool:
        return self.errors == [] and all(u.startswith("file://") for u in self.requests)


@pytest.fixture(scope="module")
def tabs(browser: Browser) -> Iterator[dict[bool, Tab]]:
    """A tab as the browser is, and one in a context where WebCrypto refuses Ed25519 keys."""
    plain = browser.new_context()
    crippled = browser.new_context()
    crippled.add_init_script(NO_ED25519)
    yield {False: Tab(plain.new_page()), True: Tab(crippled.new_page())}
    plain.close()
    crippled.close()


def _result(page: Page) -> dict[str, Any]:
    box = page.locator("#pith-verify")
    checks = page.locator("#pith-verify [data-check]")
    return {
        "verified": box.get_attribute("data-verified"),
        "status": page.locator("#pith-verify [data-role=status]").inner_text(),
        "checks": [(c.get_attribute("data-check"), c.inner_text()) for c in checks.all()],
    }


@pytest.mark.parametrize("no_ed25519", [False, True], ids=["webcrypto", "fallback"])
def test_every_record_page_verifies_from_file_url(
    tabs: dict[bool, Tab], site: dict[str, Any], no_ed25519: bool
) -> None:
    for suffix in site["suffixes"]:
        url = (site["out"] / "pith" / suffix / "index.html").as_uri()
        tab = tabs[no_ed25519]
        res = _result(tab.open(url))
        assert res["verified"] == "yes", res
        assert res["status"].startswith("Verified in your browser")
        names = [n for n, _t in res["checks"]]
        assert names == ["copy", "json", "shape", "hash", "identifiers", "title", "signature"]
        assert all(t.startswith("passed") for _n, t in res["checks"])
        impl = "TweetNaCl.js 1.0.3" if no_ed25519 else "WebCrypto"
        assert f"checked with {impl}" in res["checks"][-1][1]
        assert tab.offline_and_clean, (tab.errors, tab.requests)


def _tampered_page(site: dict[str, Any], suffix: str, name: str, edit: Any, fix_copy_hash: bool) -> str:
    """Write pith/SUFFIX/NAME.html: the record page with its embedded copy edited."""
    page: Path = site["out"] / "pith" / suffix / "index.html"
    html = page.read_text(encoding="utf-8")
    raw = (site["out"] / "pith" / f"{suffix}.json").read_bytes().decode("utf-8")
    new = edit(raw)
    assert new != raw
    block = re.compile(r'(<script type="application/json" id="pith-record-copy">)(.*?)(</script>)', re.S)
    embedded: Markup = htmlsafe_json_dumps(new)
    html, n = block.subn(lambda m: m.group(1) + str(embedded) + m.group(3), html)
    assert n == 1
    if fix_copy_hash:
        new_hash = hashlib.sha256(new.encode("utf-8")).hexdigest()
        html = re.sub(r'data-record-sha256="[0-9a-f]{64}"', f'data-record-sha256="{new_hash}"', html)
    target = page.with_name(f"{name}.html")
    target.write_text(html, encoding="utf-8")
    return target.as_uri()


def _flip_sig(raw: str) -> str:
    doc = json.loads(raw)
    sig = bytearray(base64.b64decode(doc["receipt"]["signature_b64"]))
    sig[10] ^= 0x01
    return raw.replace(doc["receipt"]["signature_b64"], base64.b64encode(bytes(sig)).decode())


TAMPERS = [
    ("copy-only", lambda raw: raw.replace('"schema_version"', ' "schema_version"', 1), False, "copy"),
    ("signature", _flip_sig, True, "signature"),
    ("canonical", lambda raw: _in_canonical(raw, '"primary_cat":"', '"primary_cat":"x'), True, "hash"),
    (
        "pith-number",
        lambda raw: re.sub(r'"pith_number":"pith:(\d{4}):', r'"pith_number":"pith:1999:', raw, count=1),
        True,
        "identifiers",
    ),
    ("duplicate-key", lambda raw: raw.replace("{", '{"pith_number":"x",', 1), True, "json"),
]


@pytest.mark.parametrize("no_ed25519", [False, True], ids=["webcrypto", "fallback"])
@pytest.mark.parametrize(("name", "edit", "fix", "failed"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampered_copy_is_not_verified_and_says_why(
    tabs: dict[bool, Tab],
    site: dict[str, Any],
    no_ed25519: bool,
    name: str,
    edit: Any,
    fix: bool,
    failed: str,
) -> None:
    suffix = "75T7H6BVKLX2X7KPYCGRY4USAC"
    url = _tampered_page(site, suffix, f"tampered-{name}", edit, fix)
    tab = tabs[no_ed25519]
    res = _result(tab.open(url))
    assert res["verified"] == "no", res
    assert res["status"].startswith(f"Not verified: {failed}: ")
    assert res["checks"][-1][0] == failed and res["checks"][-1][1].startswith("FAILED")
    assert tab.offline_and_clean, (tab.errors, tab.requests)


# -- known-answer tests ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def js(tabs: dict[bool, Tab], site: dict[str, Any]) -> Iterator[Page]:
    """A record page with verify.js and TweetNaCl loaded: window.PithVerify is the API under test."""
    yield tabs[False].open((site["out"] / "pith" / site["suffixes"][0] / "index.html").as_uri())


_ALPHABET = (
    'abcXYZ 0189"\\/\b\f\n\r\t\x00\x01\x1f\x7f\x80\u00e9\u00df\u0130\u03a3\u2028\u2029\u200b\ufeff'
    "\ud7ff\ue000\uffff\U00010000\U0001d50a\U0001f600\U0010ffff<>&'"
)


def _rand_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, n)))


def _rand_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randint(0, 6 if depth < 4 else 3)
    if kind == 0:
        return _rand_text(rng, 12)
    if kind == 1:
        return rng.choice([0, -1, 1, 7, 2**53 + 1, -(10**39), 10**39, rng.randint(-(10**12), 10**12)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return _rand_text(rng, 3)
    if kind == 4:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_rand_text(rng, 4): _rand_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_canonical_json_matches_python(js: Page) -> None:
    rng = random.Random(6)
    values: list[Any] = [
        json.loads(p.read_bytes())["canonical_record"] for p in sorted(RECORDS.glob("*.json"))
    ]
    values += [json.loads(p.read_bytes()) for p in sorted(UNSIGNED.glob("*.json"))]
    values.append({"\ue000": 1, "\U0001f600": 2, "a": 3, "": 4, "\uffff": 5, "\U00010000": 6, "Z": [7]})
    values += [_rand_value(rng) for _ in range(400)]
    texts = [
        json.dumps(v, ensure_ascii=bool(i % 2), indent=None if i % 3 else 1) for i, v in enumerate(values)
    ]
    got = js.evaluate("texts => texts.map(t => PithVerify.canonicalJson(t))", texts)
    expected = [canonical_json(v).decode("utf-8") for v in values]
    assert got == expected


def test_strict_parser_refuses_what_python_refuses(js: Page) -> None:
    bad = [
        '{"a":1,"a":2}',
        '{"a":"\\ud800"}',
        '{"a":"\\udc00x"}',
        '{"a":NaN}',
        '{"a":1e400}',
        '{"a":' + "1" * 41 + "}",
        '{"a":1} x',
        '\ufeff{"a":1}',
        '{"a":"tab\there"}',
        "[" * 70 + "]" * 70,
    ]
    got = js.evaluate(
        "texts => texts.map(t => { try { PithVerify.parseStrict(t); return null; }"
        " catch (e) { return e.message; } })",
        bad,
    )
    assert all(isinstance(g, str) and g.startswith("not strict JSON") for g in got), got
    refused_float = js.evaluate(
        "() => { try { PithVerify.canonicalJson('{\"v\":1.0}'); return null; }"
        " catch (e) { return e.message; } }"
    )
    assert "float" in refused_float


def test_sha256_base32_and_title_rule_match_python(js: Page) -> None:
    rng = random.Random(7)
    blobs = [bytes(rng.randrange(256) for _ in range(n)) for n in [*range(0, 130), 1000, 4097]]
    got = js.evaluate("bs => bs.map(b => PithVerify.sha256Js(new Uint8Array(b)))", [list(b) for b in blobs])
    assert got == [hashlib.sha256(b).hexdigest() for b in blobs]
    digests = [hashlib.sha256(b).digest() for b in blobs[:50]]
    got32 = js.evaluate(
        "ds => ds.map(d => PithVerify.base32(new Uint8Array(d)).slice(0, 26))", [list(d) for d in digests]
    )
    assert got32 == [suffix_from_hash(d.hex()) for d in digests]
    spaces = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    titles = [
        TRICKY_TITLE,
        "ΟΔΟΣ ΣΑΣ",
        "İI ß ǅ Ω K Å",
        spaces + "a" + spaces + "b" + spaces,
        "\u200b zero\ufeffwidth",
    ]
    titles += [_rand_text(rng, 30) for _ in range(200)]
    titles += [
        synthmod.random_record(synthmod.TestKey.from_seed(b"t"), rng, i)["paper"]["title"] for i in range(50)
    ]
    got_t = js.evaluate(
        "ts => Promise.all(ts.map(t => PithVerify.sha256Hex(PithVerify.utf8(PithVerify.titleCanon(t)))))",
        [t for t in titles if _no_lone_surrogates(t)],
    )
    assert got_t == [title_canon_sha256(t) for t in titles if _no_lone_surrogates(t)]


def _no_lone_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _python_verdict(raw: str, keyring: Keyring) -> bool:
    try:
        verify_record(RawRecord(raw.encode("utf-8"), "kat"), keyring)
    except RecordError:
        return False
    return True


def _malleate(raw: str) -> str:
    """S + L: the same signature in a non-canonical form, which OpenSSL (and so Python) refuses."""
    doc = json.loads(raw)
    sig = base64.b64decode(doc["receipt"]["signature_b64"])
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(sig[32:], "little") + order
    if s >= 2**256:
        return _flip_sig(raw)
    new = sig[:32] + s.to_bytes(32, "little")
    return raw.replace(doc["receipt"]["signature_b64"], base64.b64encode(new).decode())


def test_record_verdicts_match_python(js: Page, test_key: synthmod.TestKey) -> None:
    rng = random.Random(8)
    cases: list[tuple[str, dict[str, str]]] = []
    pith = {
        "key_id": PITH_KEY.key_id,
        "public_key_hex": PITH_KEY.public_key_hex,
        "fingerprint_sha256_hex": PITH_KEY.fingerprint_hex,
    }
    test = {
        "key_id": test_key.key_id,
        "public_key_hex": test_key.public_bytes.hex(),
        "fingerprint_sha256_hex": test_key.fingerprint,
    }
    for p in sorted(RECORDS.glob("*.json")):
        cases.append((p.read_bytes().decode("utf-8"), pith))
    for p in sorted(UNSIGNED.glob("*.json")):
        cases.append((p.read_bytes().decode("utf-8"), pith))
    synth = [dump_record(random_record(test_key, rng, i)).decode("utf-8") for i in range(20)]
    synth.append(dump_record(make_record(test_key, title=TRICKY_TITLE, authors="😀 \u2028")).decode("utf-8"))
    synth.append(json.dumps(make_record(test_key, title="ascii-escaped Ω 𝔊"), ensure_ascii=True))
    for raw in synth:
        cases.append((raw, test))
    base = cases[0][0]
    for edit in (
        _flip_sig,
        _malleate,
        lambda r: _in_canonical(r, '"primary_cat":"', '"primary_cat":"x'),
        lambda r: _in_canonical(r, '"version":1', '"version":1.0'),
        lambda r: (
            r.replace('"version":1', '"version":1.0', 1)
            if r.index('"version":1') < r.index('"canonical_record"')
            else r + " "
        ),
        lambda r: r.replace('"pith_short_8","alias_value":"', '"pith_short_8","alias_value":"Q', 1),
        lambda r: r.replace('"short_pith_number":"pith:', '"short_pith_number":"pith:A', 1),
        lambda r: r.replace('"title":"', '"title":"Re: ', 1),
        lambda r: r.replace('"receipt":{', '"receipt":{"canonical_sha256":"00",', 1),
    ):
        tampered = edit(base)
        assert tampered != base
        cases.append((tampered, pith))
    cases.append((_malleate(synth[0]), test))
    cases.append((synth[1], pith))  # right signature, key not pinned
    full_keyring = load_keyring([])
    test_keyring = Keyring([*full_keyring.keys, _pinned(test_key)])
    expected = [_python_verdict(raw, test_keyring if pin is test else full_keyring) for raw, pin in cases]
    # 3 real and 22 synthetic records, and the top-level source with 1.0 for 1 (Python: 1 == 1.0)
    assert expected.count(True) == 3 + 22 + 1, expected
    for opts in ({}, {"forceFallback": True}, {"noWebCrypto": True}):
        got = js.evaluate(
            "([cases, opts]) => Promise.all(cases.map(([raw, pin]) =>"
            " PithVerify.verifyRecord(raw, pin, {}, opts).then(r => [r.verified, r.impl, r.failure])))",
            [cases, opts],
        )
        assert [g[0] for g in got] == expected, (
            opts,
            [(g, e) for g, e in zip(got, expected, strict=True) if g[0] != e],
        )
        impls = {g[1] for g in got if g[0]}
        assert impls == ({"WebCrypto"} if not opts else {"TweetNaCl.js 1.0.3"}), opts


def _in_canonical(raw: str, old: str, new: str) -> str:
    at = raw.index('"canonical_record"')
    return raw[:at] + raw[at:].replace(old, new, 1)


def _pinned(key: synthmod.TestKey) -> Any:
    from generator.keyring import PinnedKey

    return PinnedKey(key.key_id, key.public_bytes, source="test")


NEGATIVE = Path(__file__).parents[1] / "fixtures" / "negative"
# Python's error code -> the in-browser check that must fail
CHECK_OF_CODE = {
    **dict.fromkeys(
        (
            "invalid_json",
            "duplicate_key",
            "non_finite_number",
            "number_too_large",
            "bom",
            "too_deep",
            "lone_surrogate",
            "not_an_object",
        ),
        "json",
    ),
    **dict.fromkeys(("canonical_schema", "bad_identifier", "float_in_canonical"), "shape"),
    **dict.fromkeys(("hash_missing", "hash_mismatch"), "hash"),
    **dict.fromkeys(
        ("alias_mismatch", "pith_number_mismatch", "short_number_mismatch", "source_mismatch"), "identifiers"
    ),
    "title_hash_mismatch": "title",
    **dict.fromkeys(
        ("no_receipt", "receipt_malformed", "receipt_hash_mismatch", "unknown_key", "bad_signature"),
        "signature",
    ),
}


def test_named_negative_fixtures_fail_the_same_check_in_the_browser(js: Page) -> None:
    """Every named bad record the Python verifier refuses, the page refuses too, at the same step."""
    cases = json.loads((NEGATIVE / "cases.json").read_bytes())
    keyring = load_keyring([NEGATIVE / "keyring.json"])
    negative_key = next(k for k in keyring.keys if k.key_id == "negative-test-key")
    pin = {
        "key_id": negative_key.key_id,
        "public_key_hex": negative_key.public_key_hex,
        "fingerprint_sha256_hex": negative_key.fingerprint_hex,
    }
    names, texts, wanted = [], [], []
    for name, case in sorted(cases.items()):
        data = (NEGATIVE / f"{name}.json").read_bytes()
        with pytest.raises(RecordError) as err:
            verify_record(RawRecord(data, name), keyring)
        assert err.value.code == case["code"]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a page holds text: invalid UTF-8 cannot be embedded
        names.append(name)
        texts.append(text)
        wanted.append(CHECK_OF_CODE[case["code"]])
    texts.append((NEGATIVE / "valid.json.txt").read_text(encoding="utf-8"))
    assert len(texts) > 60
    for opts in ({}, {"forceFallback": True}):
        got = js.evaluate(
            "([texts, pin, opts]) => Promise.all(texts.map(t => PithVerify.verifyRecord(t, pin, {}, opts)"
            ".then(r => [r.verified, r.verified ? null : r.checks[r.checks.length - 1].name])))",
            [texts, pin, opts],
        )
        assert got[-1] == [True, None], "valid.json.txt must verify"
        mismatched = [(n, g, w) for n, g, w in zip(names, got, wanted, strict=False) if g != [False, w]]
        assert mismatched == [], opts


@pytest.mark.slow
def test_canonical_json_and_titles_match_python_at_scale(js: Page) -> None:
    """The same known-answer comparison as above with 20,000 generated values and titles."""
    rng = random.Random(20260529)
    for _batch in range(10):
        values = [_rand_value(rng) for _ in range(2000)]
        texts = [json.dumps(v, ensure_ascii=rng.random() < 0.5) for v in values]
        got = js.evaluate("texts => texts.map(t => PithVerify.canonicalJson(t))", texts)
        assert got == [canonical_json(v).decode("utf-8") for v in values]
        titles = [_rand_text(rng, 60) for _ in range(2000)]
        titles = [t for t in titles if _no_lone_surrogates(t)]
        got_t = js.evaluate(
            "ts => Promise.all(ts.map(t => PithVerify.sha256Hex(PithVerify.utf8(PithVerify.titleCanon(t)))))",
            titles,
        )
        assert got_t == [title_canon_sha256(t) for t in titles]
