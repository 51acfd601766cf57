/* pith-mirror: loads data shards (search index, resolver tables) as classic scripts, once each.
   Classic scripts load from file:// as well as over HTTP, where fetch() and modules do not. */
(function () {
  "use strict";
  var loading = Object.create(null);

  window.PithShards = {
    /* A promise that the script at `rel`, relative to the site root URL `root`, has run. */
    load: function (rel, root) {
      var url = new URL(rel, root).href;
      if (!loading[url]) {
        loading[url] = new Promise(function (resolve, reject) {
          var s = document.createElement("script");
          s.src = url;
          s.onload = function () { resolve(); };
          s.onerror = function () { reject(new Error("cannot load " + rel)); };
          document.head.appendChild(s);
        });
      }
      return loading[url];
    }
  };
})();
