// The live dashboard: sign in over the REST API, then follow the portal over the
// real-time websocket. Inside the web app (/app/dashboard, `data-mode="app"`) the page is
// already signed in by its session cookie: the script asks /app/realtime/ticket for its
// websocket ticket with the page's CSRF token and holds no bearer token; the bell and the
// campaign table (REST reads) are left to the standalone /dashboard for now; the layout's
// bell is live.js's, told of each notification by an `organizeo:notification` DOM event. Its words come
// from the page's data-t-* attributes (the app's catalogs), English otherwise.
// (topics `dashboard`, `crm`, `campaigns` and `notifications`, the
// bell). Everything is written with
// textContent (never innerHTML), so record values cannot inject markup. The token lives in
// sessionStorage (sent as a Bearer header, never a cookie: no CSRF surface).
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const app = document.querySelector('#dashboard[data-mode="app"]');
  const word = (key, english) => (app && app.dataset["t" + key]) || english;
  const state = { token: sessionStorage.getItem("organizeo.token"), lastSeq: null, socket: null, retry: 0, timer: null, stopped: false };
  window.__organizeo = state; // for operators poking at the page, and the browser test

  function setStatus(kind, text) {
    const s = $("#status");
    s.dataset.state = kind;
    s.textContent = text;
  }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (app) {
      // The web app: the session cookie goes along, the CSRF token in its header.
      headers["X-CSRF-Token"] = document.querySelector('meta[name="csrf-token"]').content;
    } else if (state.token) headers.Authorization = "Bearer " + state.token;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((data && (data.detail || data.title)) || ("HTTP " + r.status));
      err.status = r.status;
      throw err;
    }
    return data;
  }

  // ---- sign in ----
  let mfaToken = null;
  if (!app) $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    $("#signin-error").textContent = "";
    try {
      let res;
      if (mfaToken) {
        res = await api("POST", "/api/v1/auth/mfa", { mfa_token: mfaToken, code: f.code.value.trim() });
      } else {
        const body = { email: f.email.value, password: f.password.value };
        if (f.tenant_id.value.trim()) body.tenant_id = f.tenant_id.value.trim();
        res = await api("POST", "/api/v1/auth/login", body);
      }
      if (res.mfa_required) {
        mfaToken = res.mfa_token;
        $("#code-row").hidden = false;
        f.code.focus();
        return;
      }
      state.token = res.token;
      sessionStorage.setItem("organizeo.token", res.token);
      mfaToken = null;
      start();
    } catch (e) {
      $("#signin-error").textContent = e.message;
    }
  });

  if (!app) $("#signout").addEventListener("click", async () => {
    try { await api("POST", "/api/v1/auth/logout"); } catch (_) { /* signed out either way */ }
    stop();
    sessionStorage.removeItem("organizeo.token");
    state.token = null;
    showSignin();
  });

  function showSignin() {
    $("#signin").hidden = false;
    $("#board").hidden = true;
    $("#signout").hidden = true;
    setStatus("offline", "signed out");
  }

  function start() {
    state.stopped = false;
    if (!app) {
      $("#bell").onclick = () => { $("#bell-list").hidden = !$("#bell-list").hidden; };
      $("#signin").hidden = true;
      $("#signout").hidden = false;
    }
    $("#board").hidden = false;
    connect();
  }

  function stop() {
    state.stopped = true;
    clearTimeout(state.timer);
    if (state.socket) state.socket.close();
  }

  // ---- the websocket, with reconnect and resume ----
  async function connect() {
    if (state.stopped) return;
    setStatus("reconnecting", state.retry ? word("Reconnecting", "reconnecting…") : word("Connecting", "connecting…"));
    let ticket;
    try {
      ticket = await api("POST", app ? app.dataset.ticketUrl : "/api/v1/realtime/ticket", {});
    } catch (e) {
      if (app && e.status >= 400 && e.status < 500) { stop(); location.href = "/app/login"; return; }
      if (e.status === 401) { stop(); sessionStorage.removeItem("organizeo.token"); state.token = null; showSignin(); return; }
      return retryLater();
    }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(proto + "//" + location.host + ticket.url);
    state.socket = socket;
    socket.onopen = () => {
      state.retry = 0;
      socket.send(JSON.stringify({ type: "subscribe", topic: "dashboard" }));
      socket.send(JSON.stringify({ type: "subscribe", topic: "campaigns" }));
      socket.send(JSON.stringify({ type: "subscribe", topic: "notifications" }));
      if (!app) { loadCampaigns(); loadBell(); }
      const sub = { type: "subscribe", topic: "crm" };
      if (state.lastSeq !== null) sub.since = state.lastSeq; // resume: replay what was missed
      socket.send(JSON.stringify(sub));
    };
    socket.onmessage = (m) => onFrame(JSON.parse(m.data));
    socket.onclose = () => { if (state.socket === socket) { state.socket = null; retryLater(); } };
  }

  function retryLater() {
    if (state.stopped) return;
    setStatus("reconnecting", word("Reconnecting", "reconnecting…"));
    const delay = Math.min(15000, 500 * Math.pow(2, state.retry++));
    state.timer = setTimeout(connect, delay);
  }

  function onFrame(f) {
    switch (f.type) {
      case "snapshot": renderCounters(f.data); break;
      case "subscribed":
        // The bell (live.js) reads its count as of the subscription: nothing before is missed.
        if (app && f.topic === "notifications") document.dispatchEvent(new CustomEvent("organizeo:notification"));
        if (f.topic === "crm") { if (state.lastSeq === null) state.lastSeq = f.seq; setStatus("live", word("Live", "live")); }
        break;
      case "reset":
        addGap(word("Gap", "Some activity was skipped while offline."));
        state.lastSeq = f.seq;
        break;
      case "event":
        if (f.topic === "dashboard") renderCounters(f.data);
        else if (f.topic === "campaigns") renderCampaign(f.data);
        else if (f.topic === "notifications" && f.event === "notification.created") {
          // In the app the layout's bell belongs to live.js, which opens no second websocket here.
          if (app) document.dispatchEvent(new CustomEvent("organizeo:notification"));
          else loadBell();
        }
        else if (f.topic === "crm") { state.lastSeq = f.seq; addActivity(f); }
        break;
      case "error": console.warn("realtime:", f.code, f.message); break;
    }
  }

  // ---- rendering ----
  function amounts(map) {
    return Object.entries(map || {}).map(([cur, v]) => (cur ? cur + " " : "") + v).join(", ");
  }

  function renderCounters(d) {
    const set = (key, text) => { const el = document.querySelector('[data-counter="' + key + '"]'); if (el) el.textContent = text; };
    if ("contacts" in d) set("contacts", String(d.contacts));
    if ("contacts_new_today" in d) set("contacts_new_today", String(d.contacts_new_today));
    if ("open_tickets" in d) set("open_tickets", String(d.open_tickets));
    if ("pending_tickets" in d) set("pending_tickets", d.pending_tickets + " " + word("Pending", "pending"));
    if ("tasks_due" in d) set("tasks_due", String(d.tasks_due));
    if ("tasks_overdue" in d) set("tasks_overdue", d.tasks_overdue + " " + word("Overdue", "overdue"));
    if ("open_deals" in d) {
      set("open_deals", String(d.open_deals.count));
      set("open_deal_amounts", amounts(d.open_deals.amounts));
      const body = $("#stages");
      body.replaceChildren();
      for (const s of d.open_deals.by_stage) {
        const tr = document.createElement("tr");
        for (const text of [s.pipeline || "—", s.stage || "—", String(s.count), amounts(s.amounts)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
    }
  }

  // ---- campaigns: the ones sending (or paused, scheduled), live from the campaigns topic ----
  async function loadCampaigns() {
    for (const status of ["sending", "paused", "scheduled"]) {
      try {
        const page = await api("GET", "/api/v1/campaigns?status=" + status + "&limit=20");
        for (const c of page.data) renderCampaign(c);
      } catch (_) { /* no campaigns feature or no right to read them: the section stays hidden */ }
    }
  }

  function renderCampaign(c) {
    if (!c || !c.id || !c.stats) return;
    let tr = document.querySelector('tr[data-campaign="' + CSS.escape(c.id) + '"]');
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.campaign = c.id;
      for (const key of ["name", "status", "progress", "bounced", "failed"]) {
        const td = document.createElement("td");
        td.dataset.field = key;
        if (key === "progress") {
          const bar = document.createElement("progress");
          bar.max = 1; bar.value = 0;
          const label = document.createElement("span");
          td.append(bar, label);
        }
        tr.append(td);
      }
      $("#campaign-rows").prepend(tr);
      $("#campaigns").hidden = false;
    }
    const cell = (k) => tr.querySelector('[data-field="' + k + '"]');
    if (c.name) cell("name").textContent = c.name;
    if (c.status) { cell("status").textContent = c.status; tr.dataset.status = c.status; }
    const s = c.stats, done = s.sent + s.failed + s.bounced + s.suppressed;
    const bar = cell("progress").querySelector("progress");
    bar.max = Math.max(1, s.recipients); bar.value = done;
    cell("progress").querySelector("span").textContent = " " + s.sent + " / " + s.recipients + " sent";
    cell("bounced").textContent = String(s.bounced);
    cell("failed").textContent = String(s.failed);
  }

  // ---- the bell: the person's notification inbox (exact counts, seeded over REST) ----
  async function loadBell() {
    try {
      const [counts, page] = await Promise.all([
        api("GET", "/api/v1/me/notifications/counts"),
        api("GET", "/api/v1/me/notifications?limit=10"),
      ]);
      const count = $("#bell-count");
      count.textContent = String(counts.unread);
      count.dataset.unread = String(counts.unread);
      $("#bell").hidden = false;
      const list = $("#bell-list");
      list.textContent = "";
      for (const n of page.data) {
        const li = document.createElement("li");
        li.textContent = n.title;
        if (!n.read_at) li.className = "unread";
        li.addEventListener("click", async () => {
          await api("POST", "/api/v1/me/notifications/" + encodeURIComponent(n.id) + "/read", {});
          loadBell();
        });
        list.appendChild(li);
      }
    } catch (e) {
      console.warn("notifications:", e.message);
    }
  }

  function describe(f) {
    const d = f.data || {};
    return d.email || [d.first_name, d.last_name].filter(Boolean).join(" ") || d.name || d.subject || d.title || (d.body ? String(d.body).slice(0, 80) : "") || f.record_id;
  }

  function addActivity(f) {
    const li = document.createElement("li");
    li.dataset.seq = f.seq;
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = new Date(f.occurred_at).toLocaleTimeString();
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = f.event;
    const who = document.createElement("span");
    who.textContent = describe(f);
    li.append(when, what, who);
    const feed = $("#feed");
    feed.prepend(li);
    while (feed.children.length > 50) feed.lastElementChild.remove();
  }

  function addGap(text) {
    const li = document.createElement("li");
    li.className = "gap";
    li.textContent = text;
    $("#feed").prepend(li);
  }

  if (app) start(); else if (state.token) start(); else showSignin();
})();
