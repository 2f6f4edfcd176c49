-- Websocket tickets: single use, 30 seconds, bound to the portal and to who asked for it
-- (a sign-in session or a private app key). Stored hashed, like every other credential,
-- and in the database so a ticket issued by one node can be redeemed on another.
CREATE TABLE realtime_tickets (
    ticket_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- 'session' or 'api_key'; subject_id is the session or key id.
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP NULL
);
CREATE INDEX realtime_tickets_expiry ON realtime_tickets (expires_at);
