/* pith-mirror resolver: ?arxiv= ?doi= ?pith= -> the record page. Shards are classic scripts
   (layout: resolve/index.json, generator/render/resolve.py), so it works from file:// too. */
(function () {
  "use strict";
  var me = document.currentScript;
  var rootRel = me.getAttribute("data-root") || "./";
  var root = new URL(rootRel, location.href);
  var linkFiles = me.getAttribute("data-link-files") === "1";
  var shardNames = null;
  var shards = Object.create(null);

  window.PithResolve = {
    shards: function (names) { shardNames = new Set(names); },
    add: function (name, data) { shards[name] = data; }
  };

  function load(rel) {
    return window.PithShards.load(rel, root);
  }

  function shard(name) {
    return load("resolve/shards.js").then(function () {
      if (!shardNames.has(name)) return {};
      return load("resolve/" + name + ".js").then(function () { return shards[name] || {}; });
    });
  }

  function own(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : null;
  }

  function suffixOf(pithNumber) {
    return pithNumber.slice(pithNumber.lastIndexOf(":") + 1);
  }

  function recordUrl(pithNumber) {
    return rootRel + "pith/" + suffixOf(pithNumber) + (linkFiles ? "/index.html" : "/");
  }

  // -> {shard, id, version} or null
  function parseArxiv(text) {
    text = text.trim().replace(/^https?:\/\/arxiv\.org\/(?:abs|pdf)\//i, "").replace(/^arxiv:/i, "");
    var m = /^([0-9]{4})\.([0-9]{4,5})(?:v([0-9]+))?$/.exec(text);
    if (m) return { shard: "arxiv/" + m[1] + "/" + m[2].slice(0, 2), id: m[1] + "." + m[2], version: m[3] ? Number(m[3]) : null };
    m = /^([a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2})?)\/([0-9]{7})(?:v([0-9]+))?$/.exec(text);
    if (m) return { shard: "arxiv/" + m[1] + "/" + m[2].slice(0, 4), id: m[1] + "/" + m[2], version: m[3] ? Number(m[3]) : null };
    return null;
  }

  function resolveArxiv(text) {
    var a = parseArxiv(text);
    if (!a) return Promise.resolve({ error: "This is not an arXiv id: " + text });
    return shard(a.shard).then(function (data) {
      var versions = own(data, a.id);
      if (!versions) return { error: "No record for arXiv " + a.id + " in this mirror." };
      if (a.version === null) return { targets: [versions[versions.length - 1][1]] };
      var hit = versions.filter(function (v) { return v[0] === a.version; });
      if (hit.length) return { targets: [hit[0][1]] };
      return {
        error: "This mirror has no record for version " + a.version + " of arXiv " + a.id + "; it has:",
        choices: versions.map(function (v) { return v[1]; })
      };
    });
  }

  function resolveDoi(text) {
    var m = /^(?:https?:\/\/(?:dx\.)?doi\.org\/|doi:)?10\.48550\/arxiv\.(.+)$/i.exec(text.trim());
    if (!m) return Promise.resolve({ error: "Only arXiv DOIs (10.48550/arXiv.…) resolve here: " + text });
    return resolveArxiv(m[1]);
  }

  function resolvePith(text) {
    text = text.trim().replace(/^https?:\/\/[^/]+\/pith\//i, "pith:");
    var m = /^pith:(?:([0-9]{4}):)?([A-Z2-7]{8,26})$/i.exec(text);
    if (!m) return Promise.resolve({ error: "This is not a Pith Number: " + text });
    var wanted = m[2].toUpperCase();
    var short8 = wanted.slice(0, 8);
    return shard("pith/" + short8.slice(0, 2)).then(function (data) {
      var all = own(data, short8) || [];
      var hits = all.filter(function (p) {
        return suffixOf(p).indexOf(wanted) === 0 && (!m[1] || p.indexOf("pith:" + m[1] + ":") === 0);
      });
      if (!hits.length) return { error: "No record for " + text + " in this mirror." };
      return { targets: hits };
    });
  }

  var statusEl = document.getElementById("resolve-status");
  var choicesEl = document.getElementById("resolve-choices");

  function show(result) {
    choicesEl.textContent = "";
    var list = result.targets && result.targets.length > 1 ? result.targets : result.choices || [];
    if (result.targets && result.targets.length === 1) {
      statusEl.textContent = "Found " + result.targets[0] + "; opening the record…";
      location.replace(recordUrl(result.targets[0]));
      return;
    }
    statusEl.textContent = result.error || "More than one record matches; choose one:";
    list.forEach(function (p) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = recordUrl(p);
      a.textContent = p;
      li.appendChild(a);
      choicesEl.appendChild(li);
    });
  }

  var params = new URLSearchParams(location.search);
  var job = null;
  if (params.get("arxiv")) job = resolveArxiv(params.get("arxiv"));
  else if (params.get("doi")) job = resolveDoi(params.get("doi"));
  else if (params.get("pith")) job = resolvePith(params.get("pith"));
  if (job) {
    ["arxiv", "doi", "pith"].forEach(function (k) {
      var el = document.getElementById("r-" + k);
      if (el && params.get(k)) el.value = params.get(k);
    });
    statusEl.textContent = "Looking up…";
    job.then(show).catch(function (err) { statusEl.textContent = "Lookup failed: " + err.message; });
  }
})();
