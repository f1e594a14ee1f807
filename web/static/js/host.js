// The host screen: stock frames patch the board in place, a tile whose level changed is marked once, the feed
// stays short. (The sparkline comes drawn in the frame: frames/stock.html.)
(function () {
  "use strict";
  var FEED_ROWS = 40;

  // --- a tile whose level changed is marked once (frames morph in: live.js) -----------------------------------
  var before = null;
  function levels() {
    var seen = {};
    document.querySelectorAll(".tile[data-sku]").forEach(function (tile) { seen[tile.dataset.sku] = tile.dataset.level; });
    return seen;
  }
  document.addEventListener("liveroom:morphing", function (event) {
    if (event.detail.target.classList.contains("stock")) before = levels();
  });
  document.addEventListener("liveroom:frame", function () {
    if (!before) return;
    document.querySelectorAll(".tile[data-sku]").forEach(function (tile) {
      var was = before[tile.dataset.sku];
      if (was && was !== tile.dataset.level) {
        tile.classList.remove("changed");
        void tile.offsetWidth;
        tile.classList.add("changed");
      }
    });
    before = null;
  });

  // --- the feed -------------------------------------------------------------------------------------------------
  function trimFeed() {
    document.querySelectorAll(".feed-list").forEach(function (list) {
      var rows = list.querySelectorAll(".feed-row");
      for (var i = FEED_ROWS; i < rows.length; i++) rows[i].remove();
    });
  }

  document.addEventListener("liveroom:frame", trimFeed);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", trimFeed);
  else trimFeed();
})();
