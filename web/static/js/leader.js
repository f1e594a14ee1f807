// The leader page's small behaviours on top of the frames (which morph in: live.js): the gap to the next place
// and the board folding to the top 10. (A held order is fixed by an htmx form post: web/actions.py.)
(function () {
  "use strict";
  // --- how far the leader is from the next place up (or ahead of the next one down) --------------------------------
  function showGaps() {
    var me = document.querySelector(".me[data-leader]");
    if (!me) return;
    document.querySelectorAll(".me-room[data-room]").forEach(function (room) {
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

  document.addEventListener("liveroom:frame", showGaps);

  // --- the board folds to the top 10 (my own row always stays in view) -------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".board-more");
    if (!button) return;
    var card = button.closest(".board-card");
    var expanded = card.classList.toggle("expanded");
    button.textContent = expanded ? button.dataset.less : button.dataset.more;
  });

  function start() { showGaps(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
