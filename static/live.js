// The web app's live pages, on every signed-in page (the layout loads it where the bell is).
// It opens ONE websocket for the page (a ticket from /app/realtime/ticket with the page's
// CSRF token, as the dashboard does) and follows:
// - `notifications`: the bell's unread count is read from /app/notifications/counts once
//   subscribed (so nothing before the subscription is missed) and again at each event;
// - `campaigns`, on a campaign page marked `data-live-campaign="{id}"` (a scheduled or
//   sending campaign): its figures (`[data-stat]`, the progress bar) change in place, and
//   when its status is no longer the one the page was drawn with, the page reloads once so
//   its buttons match the new status (a change before the subscription is caught by reading
//   the page once more).
// On the dashboard, dashboard.js already holds the page's websocket: this script opens none
// and re-reads the bell when dashboard.js says a notification arrived. Without JavaScript
// the bell is a plain link and a live page reloads itself (`<noscript>` refresh).
// Text only (textContent), never HTML. Reconnects with back-off; a campaign subscription
// resumes after the last event seen, and a gap too long to replay reloads the page.
(function () {
  "use strict";
  var count = document.getElementById("bell-count");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  if (!count || !csrf || !window.fetch) return;
  var campaign = document.querySelector("[data-live-campaign]");
  var hint = document.querySelector("[data-live-hint]");
  var lang = document.documentElement.lang || "en";
  var numbers = window.Intl ? new Intl.NumberFormat(lang) : null;

  var filled = false;
  var asked = 0; // only the newest answer is shown
  function fillBell() {
    var mine = ++asked;
    filled = true;
    fetch("/app/notifications/counts", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c || typeof c.unread !== "number" || mine !== asked) return;
        count.textContent = c.unread > 0 ? String(c.unread) : "";
        count.hidden = c.unread === 0;
      })
      .catch(function () {});
  }
  if (document.querySelector('#dashboard[data-mode="app"]')) {
    fillBell();
    document.addEventListener("organizeo:notification", fillBell);
    return;
  }
  if (!window.WebSocket) return fillBell();
  var state = { socket: null, retry: 0, timer: null, stopped: false, reloading: false, seq: null, live: false };
  window.__organizeoLive = state; // for the browser test and anyone poking at the page

  function showHint(kind) {
    if (!hint) return;
    var text = kind && hint.getAttribute("data-t-" + kind);
    hint.hidden = !text;
    if (text) hint.textContent = text;
  }

  function reload() {
    if (state.reloading) return;
    state.reloading = true;
    state.stopped = true;
    location.reload();
  }

  // Refused (the feature is off for the portal, or the person may not read campaigns):
  // the page goes back to reloading itself, as without script.
  function fallBack() {
    var secs = campaign && parseInt(campaign.getAttribute("data-live-refresh"), 10);
    showHint(null);
    if (secs > 0) setTimeout(reload, secs * 1000);
  }

  function connect() {
    if (state.stopped) return;
    fetch("/app/realtime/ticket", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf.content },
      body: "{}",
    })
      .then(function (r) {
        if (r.status >= 400 && r.status < 500) {
          state.stopped = true;
          showHint(null);
          if (!filled) fillBell();
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (ticket) {
        if (!ticket || state.stopped) return;
        var proto = location.protocol === "https:" ? "wss:" : "ws:";
        var socket = new WebSocket(proto + "//" + location.host + ticket.url);
        state.socket = socket;
        socket.onopen = function () {
          socket.send(JSON.stringify({ type: "subscribe", topic: "notifications" }));
          if (campaign) {
            var sub = { type: "subscribe", topic: "campaigns" };
            if (state.seq !== null) sub.since = state.seq; // resume: replay what was missed
            socket.send(JSON.stringify(sub));
          }
        };
        socket.onmessage = function (m) {
          var f;
          try { f = JSON.parse(m.data); } catch (e) { return; }
          onFrame(f);
        };
        socket.onclose = function () {
          if (state.socket !== socket) return;
          state.socket = null;
          retryLater();
        };
      })
      .catch(retryLater);
  }

  function retryLater() {
    if (state.stopped) return;
    if (!filled) fillBell(); // no socket yet: the count as it is now
    if (state.live) showHint("reconnecting");
    var delay = Math.min(15000, 500 * Math.pow(2, state.retry++)) * (0.75 + Math.random() / 2);
    clearTimeout(state.timer);
    state.timer = setTimeout(connect, delay);
  }

  function onFrame(f) {
    switch (f.type) {
      case "subscribed":
        state.retry = 0;
        // The count as of the subscription: nothing that arrived before it is missed.
        if (f.topic === "notifications") fillBell();
        if (f.topic === "campaigns") {
          if (state.seq === null) { state.seq = f.seq; catchUp(); }
          state.live = true;
          showHint("live");
        } else if (!campaign) state.live = true;
        break;
      case "reset":
        if (f.topic === "campaigns") reload(); // too much missed to replay: draw it afresh
        break;
      case "event":
        if (f.topic === "notifications") fillBell();
        else if (f.topic === "campaigns") {
          if (typeof f.seq === "number") state.seq = f.seq;
          onCampaign(f.data || {});
        }
        break;
      case "unsubscribed": // a feature flag turned off while the page was open
        if (f.topic === "campaigns" && campaign) fallBack();
        break;
      case "error":
        if (f.code === "unavailable" && state.socket) state.socket.close(); // reconnect, resume
        else if (f.topic === "campaigns" || (campaign && f.code === "topic_forbidden")) fallBack();
        break;
    }
  }

  // A status change between the page's render and the first subscription came on no
  // socket: read the page once more (an inert parsed document: no script runs, nothing
  // loads) and reload if its status moved on. Later gaps are replayed (`since`).
  function catchUp() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || !window.DOMParser) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#campaign-status");
        var status = fresh && fresh.getAttribute("data-status");
        if (status && status !== campaign.getAttribute("data-live-status")) reload();
      })
      .catch(function () {});
  }

  function number(n) {
    return numbers ? numbers.format(n) : String(n);
  }

  function onCampaign(d) {
    if (!campaign || d.id !== campaign.getAttribute("data-live-campaign")) return;
    var s = d.stats;
    if (s && typeof s === "object") {
      var cells = campaign.querySelectorAll("[data-stat]");
      for (var i = 0; i < cells.length; i++) {
        var v = s[cells[i].getAttribute("data-stat")];
        if (typeof v === "number") cells[i].textContent = number(v);
      }
      var bar = campaign.querySelector("progress[data-live-progress]");
      if (bar) {
        var done = (s.sent || 0) + (s.failed || 0) + (s.bounced || 0) + (s.suppressed || 0);
        bar.max = s.recipients || 1;
        bar.value = done;
        bar.textContent = number(done) + " / " + number(s.recipients || 0);
      }
    }
    if (typeof d.status === "string" && d.status !== campaign.getAttribute("data-live-status")) reload();
  }

  connect();
})();
