// The host screen: stock frames patch the board in place, the sparkline follows the clock, the feed stays short.
(function () {
  "use strict";
  var FEED_ROWS = 40;
  var SPARK_MINUTES = 30;

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
    drawSparks();
  });

  // --- the sparkline --------------------------------------------------------------------------------------------
  // Units sold per minute over the last 30 minutes, drawn from the frame's numbers and slid along by the clock: a
  // room that stops selling sends no frames, and its sparkline must still move on.
  var skew = 0; // minutes this browser's clock runs ahead of the server's, as last seen

  function minuteNow() { return Math.floor(Date.now() / 60000); }

  function drawSpark(box) {
    var values = (box.dataset.series || "").split(",").filter(function (v) { return v !== ""; }).map(Number);
    var last = Date.parse(box.dataset.last || "");
    if (!values.length || isNaN(last)) { box.innerHTML = ""; return; }
    var lastMinute = Math.floor(last / 60000);
    if (box.dataset.drawnFor !== box.dataset.last) { // a fresh frame: its last minute is the server's now
      box.dataset.drawnFor = box.dataset.last;
      skew = Math.max(0, minuteNow() - lastMinute);
    }
    var shift = Math.max(0, minuteNow() - skew - lastMinute);
    for (var i = 0; i < shift; i++) values.push(0);
    values = values.slice(-SPARK_MINUTES);
    while (values.length < SPARK_MINUTES) values.unshift(0);
    var peak = Math.max.apply(null, values);
    var width = 300, height = 100, step = width / SPARK_MINUTES, gap = 2;
    var bars = values.map(function (v, i) {
      var h = peak ? Math.max(v ? 4 : 0, (v / peak) * (height - 4)) : 0;
      var cls = i === values.length - 1 ? "now" : (v === peak && v ? "peak" : "");
      return '<rect class="' + cls + '" x="' + (i * step + gap / 2).toFixed(2) + '" y="' + (height - h).toFixed(2) +
        '" width="' + (step - gap).toFixed(2) + '" height="' + h.toFixed(2) + '" rx="1.5"></rect>';
    }).join("");
    box.innerHTML = '<svg viewBox="0 0 ' + width + " " + height + '" preserveAspectRatio="none" aria-hidden="true">' +
      '<line x1="0" y1="' + (height - 0.5) + '" x2="' + width + '" y2="' + (height - 0.5) + '"></line>' + bars + "</svg>";
    var kpi = box.closest(".kpi-spark");
    if (kpi) {
      var peakEl = kpi.querySelector(".spark-peak");
      var nowEl = kpi.querySelector(".spark-now");
      if (peakEl) peakEl.textContent = String(peak);
      if (nowEl) nowEl.textContent = String(values[values.length - 1]);
    }
  }

  function drawSparks() { document.querySelectorAll(".spark").forEach(drawSpark); }

  // --- the feed and the clock -----------------------------------------------------------------------------------
  function trimFeed() {
    document.querySelectorAll(".feed-list").forEach(function (list) {
      var rows = list.querySelectorAll(".feed-row");
      for (var i = FEED_ROWS; i < rows.length; i++) rows[i].remove();
    });
  }

  function start() { drawSparks(); trimFeed(); }
  document.addEventListener("liveroom:frame", trimFeed);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  setInterval(drawSparks, 5000);
})();
