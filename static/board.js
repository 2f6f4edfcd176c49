// The pipeline board's drag and drop (/app/deals/board). Without it every card still has
// its stage <select> and Move button, a plain form that works from the keyboard: this
// script only posts the same form when a card is dropped on another column, with the
// page's CSRF token, and moves the card when the server said yes. No framework; text is
// set with textContent only.
(() => {
  "use strict";
  const board = document.getElementById("board");
  const status = document.getElementById("board-status");
  const token = document.querySelector('meta[name="csrf-token"]');
  if (!board || !token) return;
  let dragged = null;

  function count(list) {
    const n = list.querySelectorAll(".card").length;
    const badge = list.parentElement.querySelector(".count");
    if (badge) badge.textContent = String(n);
    const empty = list.parentElement.querySelector("p.empty");
    if (empty) empty.hidden = n > 0;
  }

  async function move(card, list) {
    const from = card.parentElement;
    const form = card.querySelector("form.move");
    if (!form || from === list) return;
    const body = new URLSearchParams(new FormData(form));
    body.set("stage_id", list.dataset.stage);
    status.textContent = "";
    try {
      const res = await fetch(form.action, {
        method: "POST",
        body,
        headers: { "X-CSRF-Token": token.content },
        credentials: "same-origin",
      });
      if (!res.ok) throw new Error(String(res.status));
      list.appendChild(card);
      form.elements.stage_id.value = list.dataset.stage;
      count(from);
      count(list);
      status.textContent = board.dataset.moved.replace("{stage}", list.dataset.stageName);
    } catch (e) {
      status.textContent = board.dataset.failed;
    }
  }

  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest && e.target.closest(".card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.id);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });
  board.addEventListener("dragover", (e) => {
    if (dragged && e.target.closest && e.target.closest(".column")) e.preventDefault();
  });
  board.addEventListener("drop", (e) => {
    const column = e.target.closest && e.target.closest(".column");
    if (!dragged || !column) return;
    e.preventDefault();
    move(dragged, column.querySelector("ul.cards"));
  });
})();
