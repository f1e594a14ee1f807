// The leader page's behaviours on top of the frames (which morph in: live.js): the board folds to the top 10, my own
// row always in view; the share kit's words go to the clipboard. (The gap to the next place comes drawn in the
// frame; a held order is fixed by an htmx form post: web/actions.py.)
(function () {
  "use strict";
  function copied(button, ok) {
    var status = button.parentNode.querySelector(".kit-status");
    status.textContent = ok ? button.dataset.copied : button.dataset.failed;
    status.classList.toggle("failed", !ok);
  }
  function copyKit(button) {
    var text = document.getElementById("kit-text").textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button, true); },
                                               function () { copied(button, false); });
      return;
    }
    var area = document.createElement("textarea");  // http:// pages have no clipboard API
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    copied(button, ok);
  }
  document.addEventListener("click", function (event) {
    var copy = event.target.closest && event.target.closest(".kit-copy");
    if (copy) { copyKit(copy); return; }
    var button = event.target.closest && event.target.closest(".board-more");
    if (!button) return;
    var card = button.closest(".board-card");
    var expanded = card.classList.toggle("expanded");
    button.textContent = expanded ? button.dataset.less : button.dataset.more;
  });
})();
