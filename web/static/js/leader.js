// The leader page's one behaviour on top of the frames (which morph in: live.js): the board folds to the top 10,
// my own row always in view. (The gap to the next place comes drawn in the frame; a held order is fixed by an htmx
// form post: web/actions.py.)
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".board-more");
    if (!button) return;
    var card = button.closest(".board-card");
    var expanded = card.classList.toggle("expanded");
    button.textContent = expanded ? button.dataset.less : button.dataset.more;
  });
})();
