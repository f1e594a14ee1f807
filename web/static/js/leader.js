// The leader page's small behaviours on top of the frames: what is new or has moved catches the eye, the board
// folds to the top 10, and a held order is fixed in place with the page's own token.
(function () {
  "use strict";
  var ARRIVE_MS = 1200;

  // A phone loses its socket all the time (a lift, the screen going off): retry soon, never more than ~5 s apart.
  if (window.htmx) {
    htmx.config.wsReconnectDelay = function (retries) {
      return Math.min(5000, 400 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
    };
  }

  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }

  // Frames carry whole views, so an element that should catch the eye is often redrawn while it still does: the
  // new element carries on from where the animation was instead of starting again (or being cut short).
  var started = {};
  function flash(el, key, cls, ms, now) {
    if (started[key] === undefined) started[key] = now;
    var age = now - started[key];
    if (age >= ms) { delete started[key]; return; }
    el.style.animationDelay = -age + "ms";
    el.classList.add(cls);
  }

  // --- a new order of mine slides in -----------------------------------------------------------------------------
  // "New" is what this page has not shown before.
  var seenOrders = {};
  function markOrders(animate, now) {
    all(".order[data-order]").forEach(function (row) {
      var key = "order:" + row.dataset.order;
      if (!seenOrders[key]) {
        seenOrders[key] = true;
        if (animate) flash(row, key, "arrive", ARRIVE_MS, now);
      } else if (started[key] !== undefined) {
        flash(row, key, "arrive", ARRIVE_MS, now);
      }
    });
  }

  // --- ranks that improved and commission that changed flash once ------------------------------------------------
  var ranks = {};
  var amounts = {};
  function remember() {
    ranks = {};
    all(".me-room[data-room]").forEach(function (el) { ranks["me:" + el.dataset.room] = +el.dataset.rank || 0; });
    all(".board[data-room] .board-row").forEach(function (el) {
      ranks[el.closest(".board").dataset.room + ":" + el.dataset.leader] = +el.dataset.rank;
    });
    amounts = {};
    all("[data-cm]").forEach(function (el) { amounts[el.dataset.cm] = el.textContent; });
  }
  function improved(key, rank) { return rank > 0 && ranks[key] !== undefined && (!ranks[key] || rank < ranks[key]); }
  function showMoves(now) {
    function mark(el, key, cls, ms, moved) {
      if (moved) delete started[cls + key];  // a new move starts its own flash
      if (moved || started[cls + key] !== undefined) flash(el, cls + key, cls, ms, now);
    }
    all(".me-room[data-room]").forEach(function (el) {
      var key = "me:" + el.dataset.room;
      mark(el, key, "moved-up", 900, improved(key, +el.dataset.rank));
    });
    all(".board[data-room] .board-row").forEach(function (el) {
      var key = el.closest(".board").dataset.room + ":" + el.dataset.leader;
      mark(el, key, "moved-up", 900, improved(key, +el.dataset.rank));
    });
    all("[data-cm]").forEach(function (el) {
      var key = el.dataset.cm;
      mark(el.parentNode, key, "changed", 1200, amounts[key] !== undefined && amounts[key] !== el.textContent);
    });
  }

  // --- how far the leader is from the next place up (or ahead of the next one down) --------------------------------
  function yuan(cents) {
    var whole = Math.floor(cents / 100).toLocaleString("en-US");
    return "¥" + whole + "." + String(cents % 100).padStart(2, "0");
  }
  function showGaps() {
    var me = document.querySelector(".me[data-leader]");
    if (!me) return;
    all(".me-room[data-room]").forEach(function (room) {
      var gap = room.querySelector(".me-gap");
      var board = document.querySelector('.board[data-room="' + CSS.escape(room.dataset.room) + '"]');
      var mine = board && board.querySelector('.board-row[data-leader="' + CSS.escape(me.dataset.leader) + '"]');
      var text = "";
      if (gap && mine) {
        var rank = +mine.dataset.rank;
        var other = board.querySelector('.board-row[data-rank="' + (rank === 1 ? 2 : rank - 1) + '"]');
        var diff = other ? Math.abs(+other.dataset.gmv - +mine.dataset.gmv) : 0;
        var name = other ? other.querySelector(".board-name").textContent : "";
        if (diff > 0) {
          text = (rank === 1 ? gap.dataset.lead : gap.dataset.behind).replace("{amount}", yuan(diff))
            .replace("{name}", name);
        }
      }
      if (gap && gap.textContent !== text) gap.textContent = text;
    });
  }

  document.addEventListener("liveroom:frame", function () {
    var now = Date.now();
    showGaps();
    markOrders(true, now);
    showMoves(now);
    remember();
  });

  // --- the board folds to the top 10 (my own row always stays in view) -------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".board-more");
    if (!button) return;
    var card = button.closest(".board-card");
    var expanded = card.classList.toggle("expanded");
    button.textContent = expanded ? button.dataset.less : button.dataset.more;
  });

  // --- fixing a held order -------------------------------------------------------------------------------------
  var FIELDS = ["phone", "province", "city", "district", "address"];
  var FLAG_FIELD = { phone_not_mobile: "phone", province_unknown: "province", city_not_in_province: "city",
                     district_missing: "district", address_too_short: "address" };
  var labels = {};
  var source = document.getElementById("flag-labels");
  if (source) { try { labels = JSON.parse(source.textContent); } catch (e) { labels = {}; } }

  function flagField(form, field) {
    var box = field && form.querySelector('[data-field="' + field + '"]');
    if (box) box.classList.add("flagged");
    return box;
  }

  function explain(form, status, answer) {
    if (answer.error === "still_held") {
      // "still cannot deliver: phone_not_mobile, address_too_short" → the same words the flags above use.
      var flags = String(answer.detail || "").split(":").slice(1).join(":").split(",")
        .map(function (f) { return f.trim(); }).filter(Boolean);
      flags.forEach(function (flag) { flagField(form, FLAG_FIELD[flag]); });
      var words = flags.map(function (flag) { return labels[flag] || flag; });
      return status.dataset.still.replace("{reasons}", words.join(status.dataset.joiner || ", "));
    }
    var box = flagField(form, answer.field);
    if (box) return status.dataset.still.replace("{reasons}", box.querySelector("span").textContent);
    return answer.detail || answer.error || status.dataset.failed;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.verify) return;
    event.preventDefault();
    var body = {};
    FIELDS.forEach(function (name) {
      var input = form.elements[name];
      if (input) body[name] = input.value.trim();
    });
    var button = form.querySelector("button[type=submit]");
    var status = form.querySelector("[data-status]");
    button.disabled = true;
    status.className = "form-status";
    status.textContent = status.dataset.sending;
    fetch(form.dataset.verify, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + document.body.dataset.token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
    }).then(function (result) {
      if (result.ok) {  // the order leaves the list with the next frame; until then the button stays off
        status.className = "form-status ok";
        status.textContent = status.dataset.ok;
        return;
      }
      button.disabled = false;
      status.className = "form-status error";
      status.textContent = explain(form, status, result.answer || {});
    }).catch(function () {
      button.disabled = false;
      status.className = "form-status error";
      status.textContent = status.dataset.failed;
    });
  });

  function start() { showGaps(); markOrders(false, Date.now()); remember(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
