/* Organizeo in-app widget: a bell with the exact unread count and a panel of messages,
 * live over a websocket. Plain JavaScript, no framework, no build step. It draws inside
 * its own shadow DOM (the host page's CSS cannot reach it) and writes every text with
 * textContent, never innerHTML. Embed:
 *   <script src="https://HOST/static/widget.js" data-app-id="…" data-user-id="…"
 *           data-user-hash="hex(HMAC-SHA256(identity_secret, user_id))"></script>
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var cfg = { app: script.dataset.appId, user: script.dataset.userId, hash: script.dataset.userHash };
  var base = new URL(script.src).origin;
  var nl = /^nl\b/i.test(navigator.language || "");
  var T = nl
    ? { bell: "Meldingen", empty: "Geen berichten", readAll: "Alles gelezen", archiveAll: "Alles archiveren",
        archive: "Archiveren", open: "Openen", offline: "Opnieuw verbinden…" }
    : { bell: "Notifications", empty: "No messages", readAll: "Mark all read", archiveAll: "Archive all",
        archive: "Archive", open: "Open", offline: "Reconnecting…" };
  var headers = { "X-Organizeo-App": cfg.app, "X-Organizeo-User": cfg.user, "X-Organizeo-User-Hash": cfg.hash };

  function api(method, path) {
    return fetch(base + "/api/v1/inbox" + path, { method: method, headers: headers, mode: "cors" }).then(function (r) {
      if (!r.ok) throw new Error("inbox " + r.status);
      return r.json();
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function safeUrl(u) {
    try { var p = new URL(u); return p.protocol === "http:" || p.protocol === "https:" ? p.href : null; }
    catch (_) { return null; }
  }

  var host = el("div");
  host.id = "organizeo-widget";
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent =
    ":host{all:initial;position:fixed;right:16px;bottom:16px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif;color:#1d1d1f}" +
    ".bell{position:relative;width:44px;height:44px;border-radius:50%;border:0;background:#2b59c3;color:#fff;font-size:20px;cursor:pointer}" +
    ".badge{position:absolute;top:-4px;right:-4px;min-width:18px;padding:0 5px;border-radius:9px;background:#d93025;color:#fff;font-size:11px;line-height:18px}" +
    ".badge[hidden]{display:none}.panel{position:absolute;right:0;bottom:54px;width:320px;max-height:420px;overflow:auto;background:#fff;border:1px solid #ddd;border-radius:8px;box-shadow:0 6px 24px rgba(0,0,0,.15)}" +
    ".panel[hidden]{display:none}.bar{display:flex;gap:8px;padding:8px;border-bottom:1px solid #eee}.bar button,.item button{font:inherit;font-size:12px;cursor:pointer}" +
    ".item{padding:8px 10px;border-bottom:1px solid #f0f0f0;cursor:pointer}.item.unread .title{font-weight:600}.body{color:#555;white-space:pre-wrap;word-break:break-word}" +
    ".state{padding:8px;color:#888}";
  var bell = el("button", "bell", "\uD83D\uDD14");
  bell.setAttribute("aria-label", T.bell);
  var badge = el("span", "badge", "0");
  badge.hidden = true;
  bell.appendChild(badge);
  var panel = el("div", "panel");
  panel.hidden = true;
  var bar = el("div", "bar");
  var readAll = el("button", null, T.readAll);
  var archiveAll = el("button", null, T.archiveAll);
  bar.appendChild(readAll);
  bar.appendChild(archiveAll);
  var status = el("div", "state", "");
  var list = el("div", "list");
  panel.appendChild(bar);
  panel.appendChild(status);
  panel.appendChild(list);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(bell);

  var state = { items: [], counts: { unread: 0, unseen: 0, total: 0 }, socket: null, since: null, backoff: 1000 };
  window.__organizeoWidget = state;

  function setCounts(c) {
    state.counts = c;
    badge.textContent = String(c.unread); // exact, never "99+"
    badge.hidden = c.unread === 0;
    bell.setAttribute("aria-label", T.bell + " (" + c.unread + ")");
  }
  function render() {
    list.textContent = "";
    if (!state.items.length) list.appendChild(el("div", "state", T.empty));
    state.items.forEach(function (it) {
      var row = el("div", "item" + (it.read_at ? "" : " unread"));
      row.dataset.id = it.id;
      row.appendChild(el("div", "title", it.title));
      if (it.body) row.appendChild(el("div", "body", it.body));
      var arch = el("button", null, T.archive);
      arch.addEventListener("click", function (e) {
        e.stopPropagation();
        api("POST", "/" + encodeURIComponent(it.id) + "/archive").then(function (r) { setCounts(r.counts); load(); });
      });
      row.appendChild(arch);
      row.addEventListener("click", function () {
        var url = it.action_url && safeUrl(it.action_url);
        api("POST", "/" + encodeURIComponent(it.id) + "/read").then(function (r) { it.read_at = r.item.read_at; setCounts(r.counts); render(); });
        if (url) window.open(url, "_blank", "noopener,noreferrer");
      });
      list.appendChild(row);
    });
  }
  function markSeen() {
    state.items.filter(function (it) { return !it.seen_at; }).forEach(function (it) {
      it.seen_at = "now";
      api("POST", "/" + encodeURIComponent(it.id) + "/seen").then(function (r) { setCounts(r.counts); });
    });
  }
  function load() {
    return Promise.all([api("GET", "/counts"), api("GET", "?status=all&limit=25")]).then(function (r) {
      setCounts(r[0]);
      state.items = r[1].data;
      render();
      if (!panel.hidden) markSeen();
    });
  }
  bell.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) markSeen();
  });
  readAll.addEventListener("click", function () { api("POST", "/read-all").then(function (r) { setCounts(r.counts); load(); }); });
  archiveAll.addEventListener("click", function () { api("POST", "/archive-all").then(function (r) { setCounts(r.counts); load(); }); });

  function connect() {
    api("POST", "/ticket").then(function (t) {
      var url = base.replace(/^http/, "ws") + t.url + (state.since != null ? "&since=" + state.since : "");
      var ws = new WebSocket(url);
      state.socket = ws;
      ws.onopen = function () { state.backoff = 1000; status.textContent = ""; };
      ws.onmessage = function (ev) {
        var f;
        try { f = JSON.parse(ev.data); } catch (_) { return; }
        if (typeof f.seq === "number") state.since = f.seq;
        if (f.type === "message") {
          state.items.unshift(f.data);
          render();
          if (!panel.hidden) markSeen();
        } else if (f.type === "counts") {
          setCounts(f.data);
        } else if (f.type === "changed" || f.type === "reset") {
          load();
        }
      };
      ws.onclose = retry;
    }, retry);
  }
  function retry() {
    status.textContent = T.offline;
    var wait = state.backoff + Math.random() * 500;
    state.backoff = Math.min(state.backoff * 2, 30000);
    setTimeout(function () { load().catch(function () {}); connect(); }, wait);
  }

  function start() {
    document.body.appendChild(host);
    load().catch(function () {}).then(connect);
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
