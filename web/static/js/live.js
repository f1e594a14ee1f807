// The connection indicator, and one event every screen listens to after a frame is swapped in.
// htmx's ws extension reconnects by itself; the server sends the full state first on every (re)connect.
(function () {
  "use strict";
  function indicator(state) {
    var el = document.getElementById("conn");
    if (!el) return;
    el.className = "conn conn-" + state;
    el.textContent = el.dataset[state] || state;
    document.body.dataset.conn = state;
  }
  document.addEventListener("htmx:wsOpen", function () { indicator("live"); });
  document.addEventListener("htmx:wsClose", function (event) {
    indicator("lost");
    // 4401: the page's token was revoked. Reloading shows the page's own "link withdrawn" message instead of
    // reconnecting for ever to a server that refuses the handshake.
    var closed = event.detail && event.detail.event;
    if (closed && closed.code === 4401) window.location.reload();
  });
  document.addEventListener("htmx:wsError", function () { indicator("lost"); });
  document.addEventListener("htmx:wsAfterMessage", function (event) {
    document.dispatchEvent(new CustomEvent("liveroom:frame", { detail: event.detail }));
  });
  // --- frames morph in place (pages with <body data-morph>) ------------------------------------------------------
  // A frame piece is a whole element again. Morphing it in (idiomorph) touches only what changed: what is typed in a form
  // marked data-keep stays, hx-preserve and data-morph="skip" are left alone, data-morph="attrs" keeps children
  // drawn by a script. What changed catches the eye once: an added [data-arrive] slides in, a [data-rank] that
  // improved shows "moved-up", a [data-flash] whose text changed plays its flash ("updown": up or down).
  var TRANSIENT = ["arrive", "moved-up", "changed", "flash-up", "flash-down"];
  var ENDS = /^(arrive|bump|rise|flash|flash-up|flash-down|level-changed)$/;
  function play(el, name) {
    TRANSIENT.forEach(function (other) { el.classList.remove(other); });
    void el.offsetWidth;  // restart the animation even if the same one is still playing
    el.classList.add(name);
  }
  document.addEventListener("animationend", function (event) {
    var el = event.target.closest && event.target.closest("." + TRANSIENT.join(",."));
    if (el && ENDS.test(event.animationName)) TRANSIENT.forEach(function (name) { el.classList.remove(name); });
  });
  function figure(text) { return parseFloat(text.replace(/[^\d.]/g, "")); }
  // A stub with data-same="set" (or "attrs"): the element keeps its children and takes the stub's attributes (a
  // row's new rank); "attrs" carries all of them, so those it lacks go.
  function takeAttributes(old, next, all) {
    var was = +old.dataset.rank || 0, now = next.dataset.rank === undefined ? was : +next.dataset.rank || 0;
    if (next.hasAttribute("class")) {
      TRANSIENT.forEach(function (name) { if (old.classList.contains(name)) next.classList.add(name); });
    }
    if (all) {
      Array.prototype.slice.call(old.attributes).forEach(function (a) {
        if (a.name !== "id" && !next.hasAttribute(a.name)) old.removeAttribute(a.name);
      });
    }
    Array.prototype.forEach.call(next.attributes, function (a) {
      if (a.name !== "data-same" && old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
    });
    if (old.dataset.rank !== undefined && now > 0 && (!was || now < was)) play(old, "moved-up");
  }
  var pending = new Map();
  var MORPH = { morphStyle: "outerHTML", callbacks: {
    beforeNodeMorphed: function (old, next) {
      if (old.nodeType !== 1) return true;
      if (next.nodeType === 1 && next.hasAttribute("data-same")) {  // a stub: what is shown stays
        if (next.getAttribute("data-same")) takeAttributes(old, next, next.getAttribute("data-same") === "attrs");
        return false;
      }
      if (old.hasAttribute("hx-preserve") || old.getAttribute("data-morph") === "skip") return false;
      if (old.getAttribute("data-morph") === "attrs") {
        Array.prototype.forEach.call(next.attributes, function (a) { old.setAttribute(a.name, a.value); });
        return false;
      }
      TRANSIENT.forEach(function (name) { if (old.classList.contains(name)) next.classList.add(name); });
      var was = +old.dataset.rank || 0, now = +next.dataset.rank || 0;
      if (next.hasAttribute("data-arrive") && old.id !== next.id) {  // a placeholder (or another item) turned into it
        pending.set(old, "added");
        return true;
      }
      if (old.dataset.rank !== undefined && now > 0 && (!was || now < was)) pending.set(old, "moved-up");
      else if (old.hasAttribute("data-flash")) pending.set(old, old.textContent);
      return true;
    },
    afterNodeMorphed: function (old) {
      if (!pending.has(old)) return;
      var before = pending.get(old), mode = old.getAttribute("data-flash");
      pending.delete(old);
      if (before === "added") play(old, "arrive");
      else if (before === "moved-up") play(old, before);
      else if (before !== old.textContent && mode === "updown") {
        play(old, figure(old.textContent) > figure(before) ? "flash-up" : "flash-down");
      } else if (before !== old.textContent) play(old, mode || "changed");
    },
    afterNodeAdded: function (node) {
      if (node.nodeType !== 1) return;
      if (node.hasAttribute("data-arrive")) play(node, "arrive");
      node.querySelectorAll("[data-arrive]").forEach(function (el) { play(el, "arrive"); });
    },
    beforeAttributeUpdated: function (name, el) {
      if (name === "open" && el.tagName === "DETAILS") return false;  // a section the user opened stays open
      return !((name === "value" || name === "selected") && el.closest && el.closest("[data-keep]"));
    }
  } };
  // A frame carries only what changed (realtime/htmldiff.py): pieces swapped by id, rows added with afterbegin: or
  // removed with delete, and a list whose rows moved comes with its unchanged rows as empty [data-same] stubs,
  // which only a morph can honour (on every page, morphing or not).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    if (!target || !/^t-/.test(target.id) || !incoming || incoming.id !== target.id) return;  // frames only
    if (!document.body.hasAttribute("data-morph") && !incoming.hasAttribute("data-same") &&
        !incoming.querySelector("[data-same]")) return;
    incoming.removeAttribute("hx-swap-oob");
    document.dispatchEvent(new CustomEvent("liveroom:morphing", { detail: { target: target } }));
    Idiomorph.morph(target, incoming, MORPH);
    htmx.process(target);  // forms idiomorph created anew post through htmx too
    event.detail.shouldSwap = false;
  });
  // Every [data-clock] shows Beijing time, on the second (not a drifting second after the page happened to load).
  var clockFormat = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
  });
  (function tick() {
    var now = clockFormat.format(new Date());
    document.querySelectorAll("[data-clock]").forEach(function (el) { if (el.textContent !== now) el.textContent = now; });
    setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  })();
  // Screens on a wall or a phone must come back quickly after a server restart or a lift: retry within seconds.
  // Full jitter: anywhere from 0 to a ceiling that doubles per failed try (500 ms, 1 s, 2 s, 4 s, then 5 s). A
  // restarting process closes all its sockets at once (1012); spread like this, its thousand screens come back
  // over half a second, never all in the same millisecond, and each is sent the truth again on arrival.
  htmx.config.wsReconnectDelay = function (retries) {
    return Math.random() * Math.min(5000, 500 * Math.pow(2, retries));
  };
  // Writes are htmx form posts answered with fragments (web/actions.py); when no answer comes at all, the form's
  // status says so (a retry of a replenishment then sends the same id, so nothing is added twice).
  document.addEventListener("htmx:sendError", function (event) {
    var status = event.detail.elt && event.detail.elt.querySelector && event.detail.elt.querySelector("[data-status]");
    if (status) { status.className = "form-status error"; status.textContent = status.dataset.failed || "!"; }
  });
  // Money the browser adds up itself, by the screens' one rule (web/render.py `money`): "exact" ¥1,234.50,
  // "short" ¥12.3万 in Chinese, ¥12.3k / ¥1.2M in English, else whole yuan.
  window.liveroom = { money: function (cents, style) {
    var yuan = Math.floor(cents / 100), zh = document.documentElement.lang !== "en";
    if (style === "exact") {
      return (cents < 0 ? "-" : "") + "¥" + Math.floor(Math.abs(cents) / 100).toLocaleString("en-US") + "." +
        String(Math.abs(cents) % 100).padStart(2, "0");
    }
    if (style === "short" && zh && Math.abs(yuan) >= 10000) return "¥" + (yuan / 10000).toFixed(1) + "万";
    if (style === "short" && !zh && Math.abs(cents) >= 100000000) return "¥" + (cents / 100000000).toFixed(1) + "M";
    if (style === "short" && !zh && Math.abs(cents) >= 1000000) return "¥" + (cents / 100000).toFixed(1) + "k";
    return "¥" + yuan.toLocaleString("en-US");
  } };
})();
