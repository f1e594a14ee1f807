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
