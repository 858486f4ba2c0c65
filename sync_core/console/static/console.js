// The console's little script: filter the mailbox table as you type, and ask before a destructive action.
// Everything works without it (the server renders every row and every form posts normally).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.getElementById(input.dataset.filter);
    if (!table) continue;
    input.addEventListener("input", () => {
      const words = input.value.toLowerCase().trim();
      for (const row of table.tBodies[0].rows) {
        row.hidden = words !== "" && !(row.dataset.row || "").toLowerCase().includes(words);
      }
    });
  }
  for (const button of document.querySelectorAll("button.danger")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.textContent + "?")) event.preventDefault();
    });
  }
});
