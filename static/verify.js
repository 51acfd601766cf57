/*
 * pith-mirror: re-check a Pith record in the reader's browser, with no network.
 *
 * A classic script (module scripts do not load from file://). The record page embeds its record
 * copy as a JSON string in <script type="application/json" id="pith-record-copy"> and the pinned
 * key in <script type="application/json" id="pith-pinned-key">; nothing is fetched.
 *
 * The checks follow generator/verify/record.py:
 *   copy        SHA-256 of the embedded copy's UTF-8 bytes equals the published copy's hash
 *   json        the copy is strict JSON (no duplicate keys, lone surrogates, huge numbers)
 *   shape       canonical_record has the published shape (keys, types, patterns)
 *   hash        canonical_sha256 == SHA-256(canonical JSON of canonical_record), where the
 *               canonical JSON is Python's json.dumps(sort_keys=True, separators=(',',':'),
 *               ensure_ascii=False): keys sorted by code point, integers only (floats refused)
 *   identifiers pith_number, short_pith_number, source and aliases derive from the hash, and
 *               the page shows that hash and pith number
 *   title       paper.title hashes to the signed title_canon_sha256
 *   signature   the receipt is Ed25519 over the 32 raw bytes of the hash, by the pinned key:
 *               WebCrypto where the browser has Ed25519, else TweetNaCl (static/vendor/)
 */
(function (root) {
  "use strict";

  var NACL_NAME = "TweetNaCl.js 1.0.3";
  var MAX_DEPTH = 64;
  var MAX_INT_DIGITS = 40;

  // -- strict JSON --------------------------------------------------------------------------
  function JInt(text) {
    this.value = BigInt(text);
  }
  function JFloat(text) {
    this.text = text;
  }

  var NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

  function parseStrict(text) {
    var i = 0;
    var n = text.length;
    function fail(msg) {
      throw new Error("not strict JSON: " + msg + " at offset " + i);
    }
    function ws() {
      while (i < n) {
        var c = text.charCodeAt(i);
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
        else break;
      }
    }
    function value(level) {
      ws();
      if (i >= n) fail("unexpected end");
      var c = text[i];
      if (c === "{") return object(level);
      if (c === "[") return array(level);
      if (c === '"') return string();
      if (c === "t") return literal("true", true);
      if (c === "f") return literal("false", false);
      if (c === "n") return literal("null", null);
      return number();
    }
    function literal(word, v) {
      if (text.substr(i, word.length) !== word) fail("unexpected token");
      i += word.length;
      return v;
    }
    function object(level) {
      if (level >= MAX_DEPTH) fail("nesting deeper than " + MAX_DEPTH);
      i++;
      var m = new Map();
      ws();
      if (text[i] === "}") {
        i++;
        return m;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        var k = string();
        if (m.has(k)) fail("duplicate key " + JSON.stringify(k));
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        m.set(k, value(level + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return m;
        }
        fail("expected ',' or '}'");
      }
    }
    function array(level) {
      if (level >= MAX_DEPTH) fail("nesting deeper than " + MAX_DEPTH);
      i++;
      var a = [];
      ws();
      if (text[i] === "]") {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(level + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    function string() {
      i++;
      var out = "";
      var start = i;
      for (;;) {
        if (i >= n) fail("unterminated string");
        var c = text.charCodeAt(i);
        if (c === 0x22) {
          out += text.slice(start, i);
          i++;
          break;
        }
        if (c < 0x20) fail("control character in a string");
        if (c === 0x5c) {
          out += text.slice(start, i);
          var e = text[i + 1];
          i += 2;
          if (e === '"') out += '"';
          else if (e === "\\") out += "\\";
          else if (e === "/") out += "/";
          else if (e === "b") out += "\b";
          else if (e === "f") out += "\f";
          else if (e === "n") out += "\n";
          else if (e === "r") out += "\r";
          else if (e === "t") out += "\t";
          else if (e === "u") {
            var h = text.substr(i, 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail("bad \\u escape");
            out += String.fromCharCode(parseInt(h, 16));
            i += 4;
          } else fail("bad escape");
          start = i;
          continue;
        }
        i++;
      }
      checkSurrogates(out, fail);
      return out;
    }
    function number() {
      NUMBER_RE.lastIndex = i;
      var m = NUMBER_RE.exec(text);
      if (m === null) fail("unexpected token");
      i += m[0].length;
      if (m[1] === undefined && m[2] === undefined) {
        var digits = m[0].charAt(0) === "-" ? m[0].length - 1 : m[0].length;
        if (digits > MAX_INT_DIGITS) fail("integer with more than " + MAX_INT_DIGITS + " digits");
        return new JInt(m[0]);
      }
      if (!isFinite(parseFloat(m[0]))) fail("number " + m[0].slice(0, 40) + " overflows a double");
      return new JFloat(m[0]);
    }
    if (text.charCodeAt(0) === 0xfeff) fail("byte-order mark");
    var result = value(0);
    ws();
    if (i !== n) fail("trailing data");
    return result;
  }

  function checkSurrogates(s, fail) {
    for (var k = 0; k < s.length; k++) {
      var c = s.charCodeAt(k);
      if (c >= 0xd800 && c <= 0xdbff) {
        var d = s.charCodeAt(k + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          k++;
          continue;
        }
        fail("lone surrogate");
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        fail("lone surrogate");
      }
    }
  }

  // -- canonical JSON (Python's json.dumps(sort_keys=True, separators=(',',':'), ensure_ascii=False))
  function codePointCompare(a, b) {
    var n = Math.min(a.length, b.length);
    for (var k = 0; k < n; k++) {
      var x = a.charCodeAt(k);
      var y = b.charCodeAt(k);
      if (x !== y) {
        // UTF-16 order puts U+E000..U+FFFF above surrogates; code point order is the reverse
        if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
        return x - y;
      }
    }
    return a.length - b.length;
  }

  function quote(s) {
    var out = '"';
    var start = 0;
    for (var k = 0; k < s.length; k++) {
      var c = s.charCodeAt(k);
      var esc = null;
      if (c === 0x22) esc = '\\"';
      else if (c === 0x5c) esc = "\\\\";
      else if (c === 0x0a) esc = "\\n";
      else if (c === 0x0d) esc = "\\r";
      else if (c === 0x09) esc = "\\t";
      else if (c === 0x08) esc = "\\b";
      else if (c === 0x0c) esc = "\\f";
      else if (c < 0x20) esc = "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
      if (esc !== null) {
        out += s.slice(start, k) + esc;
        start = k + 1;
      }
    }
    return out + s.slice(start) + '"';
  }

  function canonical(v) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (v instanceof JInt) return v.value.toString();
    if (v instanceof JFloat) throw new Error("float " + v.text.slice(0, 40) + " in canonical_record: floats never occur");
    if (typeof v === "string") return quote(v);
    if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
    if (v instanceof Map) {
      var keys = Array.from(v.keys()).sort(codePointCompare);
      return "{" + keys.map(function (k) { return quote(k) + ":" + canonical(v.get(k)); }).join(",") + "}";
    }
    throw new Error("not a JSON value");
  }

  // -- bytes, hex, base32, base64 -----------------------------------------------------------
  function utf8(s) {
    return new TextEncoder().encode(s);
  }
  function toHex(bytes) {
    var out = "";
    for (var k = 0; k < bytes.length; k++) out += (bytes[k] < 16 ? "0" : "") + bytes[k].toString(16);
    return out;
  }
  function fromHex(h) {
    if (typeof h !== "string" || !/^([0-9a-f]{2})*$/.test(h)) throw new Error("not lower-case hex");
    var out = new Uint8Array(h.length / 2);
    for (var k = 0; k < out.length; k++) out[k] = parseInt(h.substr(2 * k, 2), 16);
    return out;
  }
  var B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  function base32(bytes) {
    var out = "";
    var bits = 0;
    var acc = 0;
    for (var k = 0; k < bytes.length; k++) {
      acc = (acc << 8) | bytes[k];
      bits += 8;
      while (bits >= 5) {
        out += B32[(acc >>> (bits - 5)) & 31];
        bits -= 5;
      }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
    return out;
  }
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // As Python's base64.b64decode(s, validate=True): standard alphabet, correct padding.
  function base64Strict(s) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
    var out = [];
    var acc = 0;
    var bits = 0;
    for (var k = 0; k < s.length; k++) {
      if (s[k] === "=") break;
      acc = (acc << 6) | B64.indexOf(s[k]);
      bits += 6;
      if (bits >= 8) {
        out.push((acc >>> (bits - 8)) & 255);
        bits -= 8;
      }
      acc &= (1 << bits) - 1;
    }
    return new Uint8Array(out);
  }

  // -- SHA-256: WebCrypto, or this small implementation where crypto.subtle is absent ------
  var K256 = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  function sha256Js(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var len = bytes.length;
    var padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[len] = 0x80;
    var bitLen = len * 8;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
    view.setUint32(padded.length - 4, bitLen >>> 0);
    var w = new Uint32Array(64);
    for (var off = 0; off < padded.length; off += 64) {
      for (var t = 0; t < 16; t++) w[t] = view.getUint32(off + 4 * t);
      for (t = 16; t < 64; t++) {
        var a15 = w[t - 15];
        var a2 = w[t - 2];
        var s0 = ((a15 >>> 7) | (a15 << 25)) ^ ((a15 >>> 18) | (a15 << 14)) ^ (a15 >>> 3);
        var s1 = ((a2 >>> 17) | (a2 << 15)) ^ ((a2 >>> 19) | (a2 << 13)) ^ (a2 >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
      }
      var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
        var ch = (E & F) ^ (~E & G);
        var t1 = (H + S1 + ch + K256[t] + w[t]) >>> 0;
        var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
        var maj = (A & B) ^ (A & C) ^ (B & C);
        var t2 = (S0 + maj) >>> 0;
        H = G;
        G = F;
        F = E;
        E = (D + t1) >>> 0;
        D = C;
        C = B;
        B = A;
        A = (t1 + t2) >>> 0;
      }
      h[0] = (h[0] + A) >>> 0;
      h[1] = (h[1] + B) >>> 0;
      h[2] = (h[2] + C) >>> 0;
      h[3] = (h[3] + D) >>> 0;
      h[4] = (h[4] + E) >>> 0;
      h[5] = (h[5] + F) >>> 0;
      h[6] = (h[6] + G) >>> 0;
      h[7] = (h[7] + H) >>> 0;
    }
    var out = new Uint8Array(32);
    var ov = new DataView(out.buffer);
    for (t = 0; t < 8; t++) ov.setUint32(4 * t, h[t]);
    return out;
  }

  function subtle() {
    var c = root.crypto;
    return c && c.subtle ? c.subtle : null;
  }

  function sha256(bytes, opts) {
    var s = opts && opts.noWebCrypto ? null : subtle();
    if (s === null) return Promise.resolve(sha256Js(bytes));
    return s.digest("SHA-256", bytes).then(function (buf) {
      return new Uint8Array(buf);
    });
  }

  // -- Ed25519 ------------------------------------------------------------------------------
  // The group order L, little-endian. A signature whose S is not below L is refused, as
  // OpenSSL (the Python verifier) and WebCrypto refuse it; TweetNaCl alone would accept it.
  var L_LE = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10
  ];
  function scalarIsCanonical(s) {
    for (var k = 31; k >= 0; k--) {
      if (s[k] < L_LE[k]) return true;
      if (s[k] > L_LE[k]) return false;
    }
    return false;
  }

  function naclVerify(pub, sig, msg) {
    var nacl = root.nacl;
    if (!nacl || !nacl.sign || !nacl.sign.detached) {
      throw new Error("this browser has no Ed25519 in WebCrypto and the fallback library did not load");
    }
    return { ok: nacl.sign.detached.verify(msg, sig, pub), impl: NACL_NAME };
  }

  // -> Promise<{ok, impl}>. opts.forceFallback skips WebCrypto (for tests).
  function ed25519Verify(pub, sig, msg, opts) {
    if (sig.length !== 64 || pub.length !== 32) return Promise.resolve({ ok: false, impl: "length check" });
    if (!scalarIsCanonical(sig.subarray(32))) return Promise.resolve({ ok: false, impl: "scalar check" });
    var s = opts && (opts.forceFallback || opts.noWebCrypto) ? null : subtle();
    if (s === null) return Promise.resolve().then(function () { return naclVerify(pub, sig, msg); });
    return s
      .importKey("raw", pub, { name: "Ed25519" }, false, ["verify"])
      .then(
        function (key) {
          return s.verify({ name: "Ed25519" }, key, sig, msg).then(function (ok) {
            return { ok: ok, impl: "WebCrypto" };
          });
        },
        function () {
          return naclVerify(pub, sig, msg);
        }
      );
  }

  // -- the title rule: re.sub(r'\s+', ' ', title.lower()).strip() with Python's whitespace --
  var PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
  var SPACE_RUN = new RegExp("[" + PY_SPACE + "]+", "g");
  var EDGE_SPACE = new RegExp("^[" + PY_SPACE + "]+|[" + PY_SPACE + "]+$", "g");
  function titleCanon(title) {
    return title.toLowerCase().replace(SPACE_RUN, " ").replace(EDGE_SPACE, "");
  }

  // -- the record check ---------------------------------------------------------------------
  function get(m, key) {
    return m instanceof Map ? m.get(key) : undefined;
  }

  function Failed(check, detail) {
    this.check = check;
    this.detail = detail;
  }

  /*
   * text: the record copy as text; pinned: {key_id, public_key_hex, fingerprint_sha256_hex};
   * expect: {record_sha256, pith_number, canonical_sha256} as the page states them (optional).
   * -> Promise<{verified, checks: [{name, ok, detail}], failure, impl}>
   */
  function verifyRecord(text, pinned, expect, opts) {
    expect = expect || {};
    var checks = [];
    var impl = null;
    function pass(name, detail) {
      checks.push({ name: name, ok: true, detail: detail });
    }
    function need(cond, name, detail) {
      if (!cond) throw new Failed(name, detail);
    }
    var doc, h, suffix;
    return sha256(utf8(text), opts)
      .then(function (copyHash) {
        if (expect.record_sha256) {
          need(toHex(copyHash) === expect.record_sha256, "copy",
            "the embedded copy hashes to " + toHex(copyHash) + ", the published copy to " + expect.record_sha256);
          pass("copy", "the embedded copy is byte for byte the published record copy");
        }
        try {
          doc = parseStrict(text);
        } catch (e) {
          throw new Failed("json", e.message);
        }
        need(doc instanceof Map, "json", "the record is not a JSON object");
        pass("json", "the record is strict JSON");
        var canon = get(doc, "canonical_record");
        need(canon instanceof Map, "shape", "the record has no canonical_record object");
        checkShape(canon, need);
        pass("shape", "canonical_record has the published shape");
        var canonText;
        try {
          canonText = canonical(canon);
        } catch (e) {
          throw new Failed("hash", e.message);
        }
        return sha256(utf8(canonText), opts);
      })
      .then(function (digest) {
        h = toHex(digest);
        var claimed = get(doc, "canonical_sha256");
        need(claimed !== undefined, "hash", "the record has no canonical_sha256");
        need(claimed === h, "hash", "canonical_sha256 is " + String(claimed).slice(0, 64) +
          ", but the canonical record hashes to " + h);
        pass("hash", "SHA-256 of the canonical record is " + h);
        suffix = base32(digest).slice(0, 26);
        var canon = get(doc, "canonical_record");
        var submitted = get(get(canon, "metadata"), "submitted_at");
        need(typeof submitted === "string", "identifiers", "canonical_record.metadata.submitted_at is missing");
        var pn = "pith:" + submitted.slice(0, 4) + ":" + suffix;
        if (doc.has("pith_number")) {
          need(get(doc, "pith_number") === pn, "identifiers", "pith_number is " +
            String(get(doc, "pith_number")).slice(0, 80) + ", the hash gives " + pn);
        }
        if (doc.has("short_pith_number")) {
          need(get(doc, "short_pith_number") === "pith:" + suffix.slice(0, 8), "identifiers",
            "short_pith_number does not derive from the hash");
        }
        var src = get(canon, "source");
        if (doc.has("source")) {
          need(jsonEqual(get(doc, "source"), src), "identifiers", "source differs from canonical_record.source");
        }
        if (doc.has("aliases")) checkAliases(get(doc, "aliases"), suffix, src, need);
        if (expect.pith_number !== undefined) {
          need(expect.pith_number === pn, "identifiers", "the page says " + expect.pith_number +
            ", the record's hash gives " + pn);
        }
        if (expect.canonical_sha256 !== undefined) {
          need(expect.canonical_sha256 === h, "identifiers", "the page shows hash " +
            expect.canonical_sha256 + ", the record's is " + h);
        }
        pass("identifiers", pn + " and the short number and aliases derive from the hash");
        var title = get(get(doc, "paper"), "title");
        if (title === undefined || title === null) return null;
        need(typeof title === "string", "title", "paper.title is not a string");
        return sha256(utf8(titleCanon(title)), opts).then(function (th) {
          var signedTitle = get(get(canon, "metadata"), "title_canon_sha256");
          need(toHex(th) === signedTitle, "title", "paper.title hashes to " + toHex(th) +
            ", the signed title hash is " + String(signedTitle).slice(0, 64));
          pass("title", "the title hashes to the signed title_canon_sha256");
        });
      })
      .then(function () {
        var receipt = get(doc, "receipt");
        need(receipt instanceof Map, "signature", "the record carries no receipt");
        var expected = {
          kind: "pith_receipt",
          algorithm: "ed25519",
          signed_message: "canonical_sha256_bytes",
          signature_status: "signed_v1"
        };
        Object.keys(expected).forEach(function (k) {
          if (receipt.has(k)) need(receipt.get(k) === expected[k], "signature", "receipt." + k + " is not " + expected[k]);
        });
        if (receipt.has("canonical_sha256")) {
          need(receipt.get("canonical_sha256") === h, "signature", "the receipt is for another hash");
        }
        var sig = base64Strict(receipt.get("signature_b64"));
        need(sig !== null && sig.length === 64, "signature", "receipt.signature_b64 is not a 64-byte base64 signature");
        // a receipt that names no fingerprint is tried against the pinned key; the signature decides
        var fp = receipt.get("public_key_fingerprint");
        if (fp !== undefined && fp !== null) {
          need(typeof fp === "string", "signature", "receipt.public_key_fingerprint is not a string");
          need(fp.toLowerCase() === pinned.fingerprint_sha256_hex, "signature",
            "the receipt names key fingerprint " + fp.slice(0, 40) + ", not the pinned key " +
            pinned.key_id + " (" + pinned.fingerprint_sha256_hex + ")");
        }
        var pub = fromHex(pinned.public_key_hex);
        return sha256(pub, opts).then(function (pubHash) {
          need(toHex(pubHash).slice(0, 32) === pinned.fingerprint_sha256_hex, "signature",
            "the pinned key's fingerprint does not match the pinned key");
          return ed25519Verify(pub, sig, fromHex(h), opts);
        });
      })
      .then(function (res) {
        impl = res.impl;
        need(res.ok, "signature", "the Ed25519 signature does not verify with the pinned key " + pinned.key_id);
        pass("signature", "Pith's Ed25519 signature over the hash verifies with the pinned key " +
          pinned.key_id + " (checked with " + res.impl + ")");
        return { verified: true, checks: checks, failure: null, impl: impl };
      })
      .catch(function (e) {
        var failure = e instanceof Failed ? e : new Failed("error", String(e && e.message ? e.message : e));
        checks.push({ name: failure.check, ok: false, detail: failure.detail });
        return { verified: false, checks: checks, failure: failure.check + ": " + failure.detail, impl: impl };
      });
  }

  // The published shape of canonical_record (generator/verify/record.py check_canonical_shape).
  var NEW_ARXIV = /^[0-9]{4}\.[0-9]{4,5}$/;
  var OLD_ARXIV = /^[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?\/[0-9]{7}$/;
  var CATEGORY = /^[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z-]+)?$/;
  var TIMESTAMP = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;
  var HEX64 = /^[0-9a-f]{64}$/;
  function sameKeys(m, keys) {
    return m instanceof Map && m.size === keys.length && keys.every(function (k) { return m.has(k); });
  }
  function checkShape(canon, need) {
    var fail = function (cond, what) { need(cond, "shape", what); };
    fail(sameKeys(canon, ["source", "metadata", "schema_version"]),
      "canonical_record must have exactly source, metadata, schema_version");
    fail(canon.get("schema_version") === "1.0", "schema_version must be '1.0'");
    var src = canon.get("source");
    fail(sameKeys(src, ["id", "kind", "version"]), "source must have id, kind, version");
    fail(src.get("kind") === "arxiv", "source.kind must be 'arxiv'");
    var v = src.get("version");
    fail(v instanceof JInt && v.value >= 1n && v.value < 10000n, "source.version must be a positive integer");
    var id = src.get("id");
    fail(typeof id === "string" && (NEW_ARXIV.test(id) || OLD_ARXIV.test(id)), "source.id is not an arXiv id");
    var meta = canon.get("metadata");
    fail(sameKeys(meta, ["license", "primary_cat", "submitted_at", "cross_cats_sorted", "title_canon_sha256",
      "abstract_canon_sha256"]), "metadata does not have the published keys");
    fail(typeof meta.get("license") === "string", "metadata.license must be a string");
    fail(typeof meta.get("primary_cat") === "string" && CATEGORY.test(meta.get("primary_cat")),
      "metadata.primary_cat must be an arXiv category");
    fail(typeof meta.get("submitted_at") === "string" && TIMESTAMP.test(meta.get("submitted_at")),
      "metadata.submitted_at must be YYYY-MM-DDTHH:MM:SSZ");
    var cats = meta.get("cross_cats_sorted");
    fail(Array.isArray(cats) && cats.every(function (c) { return typeof c === "string" && CATEGORY.test(c); }),
      "metadata.cross_cats_sorted must be a list of categories");
    fail(cats.every(function (c, k) { return k === 0 || cats[k - 1] <= c; }), "metadata.cross_cats_sorted is not sorted");
    ["title_canon_sha256", "abstract_canon_sha256"].forEach(function (name) {
      fail(typeof meta.get(name) === "string" && HEX64.test(meta.get(name)), "metadata." + name + " must be 64 hex digits");
    });
  }

  // Equality as Python's == on parsed JSON: 1 == 1.0, key order ignored.
  function jsonEqual(a, b) {
    var na = a instanceof JInt || a instanceof JFloat;
    var nb = b instanceof JInt || b instanceof JFloat;
    if (na || nb) {
      if (!(na && nb)) return false;
      if (a instanceof JInt && b instanceof JInt) return a.value === b.value;
      return Number(a instanceof JInt ? a.value : a.text) === Number(b instanceof JInt ? b.value : b.text);
    }
    if (Array.isArray(a) || Array.isArray(b)) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every(function (x, k) { return jsonEqual(x, b[k]); });
    }
    if (a instanceof Map || b instanceof Map) {
      if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
      return Array.from(a.keys()).every(function (k) { return b.has(k) && jsonEqual(a.get(k), b.get(k)); });
    }
    return a === b;
  }

  function checkAliases(aliases, suffix, src, need) {
    need(Array.isArray(aliases), "identifiers", "aliases is not a list");
    var id = get(src, "id");
    var version = get(src, "version");
    var v = version instanceof JInt ? version.value.toString() : "?";
    var derived = {
      arxiv: id,
      arxiv_version: id + "v" + v,
      doi: "10.48550/arxiv." + id,
      pith_short_8: suffix.slice(0, 8),
      pith_short_12: suffix.slice(0, 12),
      pith_short_16: suffix.slice(0, 16)
    };
    aliases.forEach(function (a, k) {
      var kind = get(a, "alias_kind");
      need(typeof kind === "string", "identifiers", "aliases[" + k + "] has no alias_kind");
      if (Object.prototype.hasOwnProperty.call(derived, kind)) {
        need(get(a, "alias_value") === derived[kind], "identifiers", "alias " + kind + " does not derive from the record");
      }
    });
  }

  // -- the page -----------------------------------------------------------------------------
  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function show(box, result) {
    var status = box.querySelector("[data-role=status]");
    var list = box.querySelector("[data-role=checks]");
    box.setAttribute("data-verified", result.verified ? "yes" : "no");
    box.classList.add(result.verified ? "ok" : "failed");
    status.textContent = result.verified
      ? "Verified in your browser: the record copy, its hash, its identifiers and Pith's signature all check out."
      : "Not verified: " + result.failure;
    while (list.firstChild) list.removeChild(list.firstChild);
    result.checks.forEach(function (c) {
      var li = document.createElement("li");
      li.className = "check " + (c.ok ? "verified" : "failed");
      var strong = document.createElement("strong");
      strong.textContent = c.ok ? "passed" : "FAILED";
      li.appendChild(strong);
      li.appendChild(document.createTextNode(" · " + c.name + ": " + c.detail));
      li.setAttribute("data-check", c.name);
      list.appendChild(li);
    });
  }

  function runPage() {
    var box = document.getElementById("pith-verify");
    if (!box) return null;
    var article = document.querySelector("article[data-pith-number]");
    var text, pinned;
    try {
      text = readJson("pith-record-copy");
      pinned = readJson("pith-pinned-key");
    } catch (e) {
      text = null;
    }
    if (typeof text !== "string" || !pinned) {
      var r = { verified: false, checks: [], failure: "the page carries no readable record copy or pinned key", impl: null };
      show(box, r);
      return Promise.resolve(r);
    }
    var expect = {
      record_sha256: box.getAttribute("data-record-sha256") || undefined,
      pith_number: article ? article.getAttribute("data-pith-number") : undefined,
      canonical_sha256: article ? article.getAttribute("data-canonical-sha256") : undefined
    };
    return verifyRecord(text, pinned, expect, {}).then(function (result) {
      show(box, result);
      return result;
    });
  }

  var api = {
    parseStrict: parseStrict,
    canonicalJson: function (text) {
      return canonical(parseStrict(text));
    },
    sha256Js: function (bytes) {
      return toHex(sha256Js(bytes));
    },
    sha256Hex: function (bytes, opts) {
      return sha256(bytes, opts).then(toHex);
    },
    base32: base32,
    titleCanon: titleCanon,
    ed25519Verify: ed25519Verify,
    verifyRecord: verifyRecord,
    runPage: runPage,
    utf8: utf8,
    fromHex: fromHex,
    base64Strict: base64Strict
  };
  root.PithVerify = api;

  if (typeof document !== "undefined") {
    var start = function () {
      api.done = runPage();
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})(typeof self !== "undefined" ? self : this);
