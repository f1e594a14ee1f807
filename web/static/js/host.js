// The host screen: stock frames patch the board in place, the sparkline follows the clock, the feed stays short.
(function () {
  "use strict";
  var FEED_ROWS = 40;
  var SPARK_MINUTES = 30;

  // --- patching a stock frame into the page ---------------------------------------------------------------------
  // A frame is the whole board again, once a second while the room sells. Replacing it would wipe what the host is
  // typing into a replenish form and could swallow a click; patching touches only what changed.

  function keyOf(node) {
    return node.nodeType === 1 ? node.getAttribute("data-k") || node.id || null : null;
  }

  // Classes this script adds for an animation: a frame does not know them, so patching keeps them until it ends.
  var TRANSIENT = ["flash-up", "flash-down", "changed"];

  function syncAttributes(old, next) {
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!next.hasAttribute(a.name)) old.removeAttribute(a.name);
    });
    Array.prototype.forEach.call(next.attributes, function (a) {
      var value = a.value;
      if (a.name === "class") {
        var playing = TRANSIENT.filter(function (name) { return old.classList.contains(name); });
        if (playing.length) value = (value + " " + playing.join(" ")).trim();
      }
      if (old.getAttribute(a.name) !== value) old.setAttribute(a.name, value);
    });
  }

  function animate(el, name) {
    TRANSIENT.forEach(function (other) { el.classList.remove(other); });
    void el.offsetWidth; // restart the animation even if the same one is still playing
    el.classList.add(name);
  }

  document.addEventListener("animationend", function (event) {
    var el = event.target;
    if (el.classList && (event.animationName === "flash-up" || event.animationName === "flash-down" ||
                         event.animationName === "level-changed")) {
      TRANSIENT.forEach(function (name) { el.classList.remove(name); });
    }
  });

  function flash(el, before) {
    var after = el.textContent;
    if (before === after) return;
    var up = parseFloat(after.replace(/[^\d.]/g, "")) > parseFloat(before.replace(/[^\d.]/g, ""));
    animate(el, up ? "flash-up" : "flash-down");
  }

  function morph(old, next) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== next.nodeValue) old.nodeValue = next.nodeValue;
      return;
    }
    var mode = next.getAttribute("data-morph");
    if (mode === "skip") return;
    var before = old.hasAttribute("data-flash") ? old.textContent : null;
    syncAttributes(old, next);
    if (mode !== "attrs") morphChildren(old, next);
    if (before !== null) flash(old, before);
  }

  function morphChildren(old, next) {
    var byKey = new Map();
    var loose = [];
    Array.prototype.forEach.call(old.childNodes, function (child) {
      var key = keyOf(child);
      if (key) byKey.set(key, child); else loose.push(child);
    });
    var looseAt = 0;
    var ref = old.firstChild;
    Array.prototype.slice.call(next.childNodes).forEach(function (child) {
      var key = keyOf(child);
      var match = null;
      if (key) {
        match = byKey.get(key) || null;
        byKey.delete(key);
      } else {
        while (looseAt < loose.length && !match) {
          var candidate = loose[looseAt++];
          if (candidate.nodeName === child.nodeName) match = candidate;
        }
      }
      if (match && match.nodeName !== child.nodeName) match = null;
      var placed = child;
      if (match) {
        morph(match, child);
        placed = match;
      }
      if (placed === ref) ref = ref.nextSibling;
      else old.insertBefore(placed, ref);
    });
    while (ref) {
      var gone = ref;
      ref = ref.nextSibling;
      old.removeChild(gone);
    }
  }

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
    morph(target, incoming);
    event.detail.shouldSwap = false;
    document.querySelectorAll(".tile[data-sku]").forEach(function (tile) {
      var was = before[tile.dataset.sku];
      if (was && was !== tile.dataset.level) animate(tile, "changed");
    });
    drawSparks();
  });

  // --- forms ----------------------------------------------------------------------------------------------------
  // The replenish form's address names the warehouse picked in its <select> (live.js sends to data-api); the
  // capture phase runs before live.js reads it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("replenish")) return;
    var select = form.querySelector("select[data-warehouse]");
    if (!select || !select.value) return;
    form.dataset.api = "POST /api/v1/skus/" + encodeURIComponent(form.dataset.sku) + "/stock/" +
      encodeURIComponent(select.value) + "/adjust";
  }, true);

  // Each replenishment carries an id, so sending it again after the network failed (did the server get it?) adds
  // the units once: the server answers a repeated id with its first answer. The id is kept until an answer
  // arrives, and belongs to this SKU, warehouse and quantity; any other replenishment gets a new one.
  var pendingIds = {};
  function newId() {
    return "host-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function replenishKey(form, body) { return [form.dataset.sku, form.dataset.api, body.delta].join("|"); }
  document.addEventListener("liveroom:sending", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("replenish")) return;
    var key = replenishKey(form, event.detail.body);
    event.detail.body.adjustment = pendingIds[key] || (pendingIds[key] = newId());
  });
  document.addEventListener("liveroom:answered", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("replenish")) return;
    delete pendingIds[replenishKey(form, event.detail.body)];
  });

  // A form's answer stays a few seconds, then clears (frames leave status text alone: data-morph="skip").
  var clearing = new WeakMap();
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      var status = record.target.nodeType === 1 ? record.target : record.target.parentElement;
      if (!status || !status.hasAttribute || !status.hasAttribute("data-status") || !status.textContent) return;
      clearTimeout(clearing.get(status));
      clearing.set(status, setTimeout(function () {
        status.textContent = "";
        status.className = "form-status";
      }, status.classList.contains("error") ? 8000 : 4000));
    });
  }).observe(document.body, { childList: true, characterData: true, subtree: true });

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
