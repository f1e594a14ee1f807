// The leader page's small behaviours on top of the frames: what is new or has moved catches the eye, the board
// folds to the top 10. (A held order is fixed by an htmx form post: web/actions.py.)
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
          text = (rank === 1 ? gap.dataset.lead : gap.dataset.behind).replace("{amount}", liveroom.money(diff, "exact"))
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

  function start() { showGaps(); markOrders(false, Date.now()); remember(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
