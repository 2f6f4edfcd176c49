-- The web sign-in's portal choice is a sealed cookie holding a random nonce. Choosing a
-- portal spends the nonce: its SHA-256 digest is kept here until the cookie would have
-- expired, so a copy of the cookie cannot open a second session. A platform table (no
-- portal owns a sign-in step): no row-level security.
CREATE TABLE spent_sign_in_steps (
    digest TEXT PRIMARY KEY NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX spent_sign_in_steps_expiry ON spent_sign_in_steps (expires_at);
