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
  // Screen actions: a <form data-api="PUT /api/v1/..."> sends its fields as JSON with the page's token.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.api) return;
    event.preventDefault();
    var parts = form.dataset.api.split(" ");
    var body = {};
    Array.prototype.forEach.call(form.elements, function (input) {
      if (!input.name || input.disabled) return;
      var value = input.value;
      if (input.type === "checkbox") value = input.checked;
      else if (input.dataset.type === "int") value = parseInt(value, 10);
      else if (input.dataset.type === "bool") value = value === "true";
      else if (value === "" && input.dataset.optional !== undefined) return;
      body[input.name] = value;
    });
    var status = form.querySelector("[data-status]");
    if (status) { status.textContent = ""; status.className = "form-status"; }
    // A screen's own script may add to the body (host.js: the replenish form's idempotency id).
    form.dispatchEvent(new CustomEvent("liveroom:sending", { bubbles: true, detail: { body: body } }));
    fetch(parts[1], {
      method: parts[0],
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + document.body.dataset.token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
    }).then(function (result) {
      form.dispatchEvent(new CustomEvent("liveroom:answered", { bubbles: true, detail: { ok: result.ok, body: body } }));
      if (!status) return;
      status.className = "form-status " + (result.ok ? "ok" : "error");
      status.textContent = result.ok ? (status.dataset.ok || "✓") : (result.answer.detail || result.answer.error);
    }).catch(function () {
      if (status) { status.className = "form-status error"; status.textContent = status.dataset.failed || "!"; }
    });
  });
})();
