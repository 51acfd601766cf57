/* pith-mirror search: loads index shards as classic scripts (works from file:// and HTTP).
   Index layout: see generator/render/search.py. Results are inserted with textContent only. */
(function () {
  "use strict";
  var me = document.currentScript;
  var rootRel = me.getAttribute("data-root") || "./";
  var root = new URL(rootRel, location.href);
  var linkFiles = me.getAttribute("data-link-files") === "1";
  var PAGE = 20;
  var manifest = null;
  var leafSet = null;
  var termShards = Object.create(null);
  var docShards = Object.create(null);

  window.PithSearch = {
    manifest: function (m) { manifest = m; },
    terms: function (leaf, data) { termShards[leaf] = data; },
    docs: function (n, rows) { docShards[n] = rows; }
  };

  function load(rel) {
    return window.PithShards.load(rel, root);
  }

  // Same steps as generator/render/search.py fold() and tokens().
  function fold(text) {
    text = text.replace(/\\[`'"^~=.]\{?([A-Za-z])\}?/g, "$1");
    return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  }
  function leafName(prefix) {
    var out = "";
    for (var c of prefix) {
      out += /[a-z0-9]/.test(c) ? c : "_" + c.codePointAt(0).toString(16) + "_";
    }
    return out;
  }

  function queryTerms(q) {
    var terms = [];
    var stop = new Set(manifest.stop_words);
    q = q.replace(/https?:\/\/(?:doi\.org|arxiv\.org\/abs)\//gi, " ");
    q = q.replace(/\b10\.48550\/arxiv\./gi, " ");
    q = q.replace(/\barxiv:/gi, " ");
    q = q.replace(/pith:(?:[0-9]{4}:)?([A-Z2-7]{8})[A-Z2-7]*/gi, function (_, s8) {
      terms.push(s8.toLowerCase());
      return " ";
    });
    q = q.replace(/\b([A-Z2-7]{8})[A-Z2-7]{18}\b/g, function (_, s8) {  // a bare SUFFIX
      terms.push(s8.toLowerCase());
      return " ";
    });
    q = q.replace(/\b([0-9]{4}\.[0-9]{4,5})v[0-9]+\b/g, "$1");
    q = q.replace(/\b[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?\/([0-9]{7})(?:v[0-9]+)?\b/g, " $1 ");
    var m;
    var re = /[\p{L}\p{N}]+(?:[.\-][\p{L}\p{N}]+)*/gu;
    var folded = fold(q);
    while ((m = re.exec(folded)) !== null) {
      if (Array.from(m[0]).length >= 2 && !stop.has(m[0])) terms.push(m[0]);
    }
    return Array.from(new Set(terms));
  }

  function leafFor(term) {
    var cps = Array.from(term);
    for (var k = cps.length; k >= 1; k--) {
      var p = cps.slice(0, k).join("");
      if (leafSet.has(p)) return p;
    }
    return null;
  }

  function decode(deltas) {
    var out = new Array(deltas.length);
    var acc = 0;
    for (var i = 0; i < deltas.length; i++) { acc += deltas[i]; out[i] = acc; }
    return out;
  }

  function union(lists) {
    if (lists.length === 1) return lists[0];
    var all = [].concat.apply([], lists).sort(function (a, b) { return a - b; });
    return all.filter(function (v, i) { return i === 0 || v !== all[i - 1]; });
  }

  function intersect(a, b) {
    var out = [];
    var i = 0, j = 0;
    while (i < a.length && j < b.length) {
      if (a[i] === b[j]) { out.push(a[i]); i++; j++; }
      else if (a[i] < b[j]) i++;
      else j++;
    }
    return out;
  }

  // The leaves to load for a term: where it would be, and (as a prefix) leaves under it.
  function leavesFor(term, prefix) {
    var out = [];
    var own = leafFor(term);
    if (own !== null) out.push(own);
    if (prefix) {
      for (var i = 0; i < manifest.leaves.length && out.length < 16; i++) {
        var l = manifest.leaves[i];
        if (l !== own && l.length > term.length && l.indexOf(term) === 0) out.push(l);
      }
    }
    return out;
  }

  function postingsFor(term, leaves, prefix) {
    var lists = [];
    leaves.forEach(function (leaf) {
      var shard = termShards[leaf] || {};
      if (!prefix) {
        if (Object.prototype.hasOwnProperty.call(shard, term)) lists.push(decode(shard[term]));
        return;
      }
      Object.keys(shard).forEach(function (t) {
        if (t.indexOf(term) === 0) lists.push(decode(shard[t]));
      });
    });
    return lists.length ? union(lists) : [];
  }

  var statusEl = document.getElementById("search-status");
  var listEl = document.getElementById("search-results");
  var moreEl = document.getElementById("search-more");
  var input = document.getElementById("q-page");
  var form = input ? input.form : null;
  var generation = 0;
  var current = { ids: [], shown: 0, gen: 0 };

  function recordUrl(suffix) {
    return rootRel + "pith/" + suffix + (linkFiles ? "/index.html" : "/");
  }

  function renderDoc(row) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.className = "title";
    a.href = recordUrl(row[0]);
    a.textContent = row[2] || row[1];
    li.appendChild(a);
    var meta = document.createElement("span");
    meta.className = "meta";
    var pn = document.createElement("span");
    pn.className = "mono";
    pn.textContent = row[1];
    meta.appendChild(pn);
    meta.appendChild(document.createTextNode(" · arXiv " + row[4] + "v" + row[5] + " · " + row[6] + " · " + row[7]));
    li.appendChild(meta);
    if (row[3]) {
      var au = document.createElement("span");
      au.className = "authors";
      au.textContent = row[3];
      li.appendChild(au);
    }
    return li;
  }

  function showMore(gen) {
    var dps = manifest.docs_per_shard;
    var ids = current.ids.slice(current.shown, current.shown + PAGE);
    var shards = Array.from(new Set(ids.map(function (id) { return Math.floor(id / dps); })));
    return Promise.all(shards.map(function (n) { return load("search/d/" + n + ".js"); })).then(function () {
      if (gen !== generation) return;
      ids.forEach(function (id) {
        var rows = docShards[Math.floor(id / dps)];
        listEl.appendChild(renderDoc(rows[id % dps]));
      });
      current.shown += ids.length;
      moreEl.hidden = current.shown >= current.ids.length;
    });
  }

  function search(q) {
    var gen = ++generation;
    var started = performance.now();
    return load("search/manifest.js").then(function () {
      if (!leafSet) leafSet = new Set(manifest.leaves);
      var terms = queryTerms(q);
      if (!terms.length) {
        listEl.textContent = "";
        moreEl.hidden = true;
        statusEl.textContent = q.trim() ? "Type at least two letters of a word." : manifest.docs + " records indexed.";
        return null;
      }
      var plan = terms.map(function (t, i) {
        var prefix = i === terms.length - 1;
        return { term: t, prefix: prefix, leaves: leavesFor(t, prefix) };
      });
      var needed = [];
      plan.forEach(function (p) { needed = needed.concat(p.leaves); });
      return Promise.all(needed.map(function (l) { return load("search/t/" + leafName(l) + ".js"); })).then(function () {
        if (gen !== generation) return null;
        var lists = plan.map(function (p) { return postingsFor(p.term, p.leaves, p.prefix); });
        lists.sort(function (a, b) { return a.length - b.length; });
        // documents are numbered oldest first: the matches from the end are the newest
        var ids = lists.reduce(function (acc, l) { return intersect(acc, l); }).reverse();
        current = { ids: ids, shown: 0, gen: gen };
        listEl.textContent = "";
        return showMore(gen).then(function () {
          if (gen !== generation) return;
          var ms = Math.round(performance.now() - started);
          listEl.setAttribute("data-ms", String(ms));
          statusEl.textContent = ids.length
            ? ids.length + " record" + (ids.length === 1 ? "" : "s") + " found (" + ms + " ms)."
            : "No record matches all of: " + terms.join(", ") + ".";
        });
      });
    }).catch(function (err) {
      statusEl.textContent = "Search failed: " + err.message;
    });
  }

  if (moreEl) moreEl.addEventListener("click", function () { showMore(generation); });
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      try {
        var url = new URL(location.href);
        url.searchParams.set("q", input.value);
        history.replaceState(null, "", url.href);
      } catch (e) { /* some file:// contexts refuse history updates; searching still works */ }
      search(input.value);
    });
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { search(input.value); }, 120);
    });
  }
  var q = new URLSearchParams(location.search).get("q");
  if (q && input) {
    input.value = q;
    search(q);
  }
})();
