// The notification bell: fills the layout's unread count from /app/notifications/counts.
// Without this script the bell is still a link to the inbox. Text only, never HTML.
(function () {
  "use strict";
  var count = document.getElementById("bell-count");
  if (!count || !window.fetch) return;
  fetch("/app/notifications/counts", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) {
      if (!c || typeof c.unread !== "number") return;
      count.textContent = c.unread > 0 ? String(c.unread) : "";
      count.hidden = c.unread === 0;
    })
    .catch(function () {});
})();
