// The peer a user would pick instead of Organizeo for the same job: an HTTP endpoint that
// records a contact and a Socket.IO 4.8 server that pushes it to every connected client of
// the tenant (one room). Records live in memory (no database), so this is an upper bound
// for the peer. Run by bench/ws_bench.rs; prints "listening <port>".
"use strict";
const http = require("http");
const https = require("https");
const fs = require("fs");
const { Server } = require("socket.io");

let seq = 0;
const contacts = new Map();

// TLS_CERT and TLS_KEY (PEM files): serve https/wss, as ws_bench --tls asks.
const handler = (req, res) => {
  if (req.method === "POST" && req.url === "/api/v1/contacts") {
    let body = "";
    req.on("data", (c) => { body += c; });
    req.on("end", () => {
      let input;
      try { input = JSON.parse(body); } catch (_) { res.writeHead(400); return res.end(); }
      const now = new Date().toISOString();
      const record = {
        id: require("crypto").randomUUID(), created_at: now, updated_at: now,
        email: input.email || null, first_name: input.first_name || null, last_name: null,
        phone: null, company_ids: [], tags: [], custom_fields: {},
      };
      contacts.set(record.id, record);
      seq += 1;
      io.to("tenant").emit("event", { type: "event", topic: "crm", seq, event: "contact.created", data: record });
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify(record));
    });
    return;
  }
  res.writeHead(404);
  res.end();
};
const server = process.env.TLS_CERT
  ? https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, handler)
  : http.createServer(handler);

const io = new Server(server, { transports: ["websocket"], pingInterval: 15000, pingTimeout: 30000, serveClient: false });
io.on("connection", (socket) => socket.join("tenant"));

server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log("listening " + server.address().port);
});
