// The host screen: stock frames patch the board in place, the sparkline follows the clock, the feed stays short.
(function () {
  "use strict";
  var FEED_ROWS = 40;
  var SPARK_MINUTES = 30;

  // --- morphing a stock frame into the page ---------------------------------------------------------------------
  // A frame is the whole board again, once a second while the room sells. Replacing it would wipe what the host is
  // typing into a replenish form and could swallow a click: idiomorph touches only what changed. What the host
  // typed or picked in a form marked data-keep stays, and so does a status being read (data-morph="skip").
  var TRANSIENT = ["flash-up", "flash-down", "changed"];  // animations this script plays; a frame keeps them

  function animate(el, name) {
    TRANSIENT.forEach(function (other) { el.classList.remove(other); });
    void el.offsetWidth; // restart the animation even if the same one is still playing
    el.classList.add(name);
  }

  document.addEventListener("animationend", function (event) {
    var el = event.target;
    if (/^(flash-up|flash-down|level-changed)$/.test(event.animationName)) {
      TRANSIENT.forEach(function (name) { el.classList.remove(name); });
    }
  });

  function figure(text) { return parseFloat(text.replace(/[^\d.]/g, "")); }
  var flashing = new Map();
  var MORPH = { morphStyle: "outerHTML", callbacks: {
    beforeNodeMorphed: function (old, next) {
      if (old.nodeType !== 1) return true;
      var mode = old.getAttribute("data-morph");
      if (mode === "skip") return false;
      if (mode === "attrs") {  // children drawn here (the sparkline)
        Array.prototype.forEach.call(next.attributes, function (a) { old.setAttribute(a.name, a.value); });
        return false;
      }
      TRANSIENT.forEach(function (name) { if (old.classList.contains(name)) next.classList.add(name); });
      if (old.hasAttribute("data-flash")) flashing.set(old, old.textContent);
      return true;
    },
    afterNodeMorphed: function (old) {
      if (!flashing.has(old)) return;
      var before = flashing.get(old);
      flashing.delete(old);
      if (before !== old.textContent) animate(old, figure(old.textContent) > figure(before) ? "flash-up" : "flash-down");
    },
    beforeAttributeUpdated: function (name, el) {
      return !((name === "value" || name === "selected") && el.closest && el.closest("[data-keep]"));
    }
  } };

  function levels() {
    var seen = {};
    document.querySelectorAll(".tile[data-sku]").forEach(function (tile) { seen[tile.dataset.sku] = tile.dataset.level; });
    return seen;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    if (!target || !target.classList.contains("stock") || !incoming || incoming.id !== target.id) return;
    var before = levels();
    incoming.removeAttribute("hx-swap-oob");
    Idiomorph.morph(target, incoming, MORPH);
    htmx.process(target);  // forms idiomorph created anew post through htmx too
    event.detail.shouldSwap = false;
    document.querySelectorAll(".tile[data-sku]").forEach(function (tile) {
      var was = before[tile.dataset.sku];
      if (was && was !== tile.dataset.level) animate(tile, "changed");
    });
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

  var clockFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  function tick() { // on the second, not a drifting second after the page happened to load
    var clock = document.getElementById("host-clock");
    if (clock) clock.textContent = clockFormat.format(new Date());
    setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  // A wall screen must come back quickly after a server restart: retry within seconds, never minutes.
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (retries) {
      return Math.min(5000, 500 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
    };
  }

  function start() { drawSparks(); trimFeed(); tick(); }
  document.addEventListener("liveroom:frame", trimFeed);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  setInterval(drawSparks, 5000);
})();
