-- Back to the set_config bodies of 000025.

CREATE OR REPLACE FUNCTION organizeo_session_by_token(digest text)
RETURNS TABLE (
    id text, tenant_id text, user_id text, token_hash text, created_at timestamp,
    expires_at timestamp, last_seen_at timestamp, revoked_at timestamp, ip text,
    user_agent text, role text, member_since timestamp, require_mfa boolean,
    totp_enabled_at timestamp
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    was text := current_setting('organizeo.system', true);
BEGIN
    PERFORM set_config('organizeo.system', 'on', true);
    RETURN QUERY
        SELECT s.id, s.tenant_id, s.user_id, s.token_hash, s.created_at, s.expires_at,
               s.last_seen_at, s.revoked_at, s.ip, s.user_agent, m.role, m.created_at,
               t.require_mfa, u.totp_enabled_at
        FROM sessions s
        JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id
        JOIN tenants t ON t.id = s.tenant_id
        JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = digest;
    PERFORM set_config('organizeo.system', coalesce(was, 'off'), true);
END $$;

CREATE OR REPLACE FUNCTION organizeo_key_by_hash(digest text)
RETURNS SETOF api_keys
LANGUAGE plpgsql AS $$
DECLARE
    was text := current_setting('organizeo.system', true);
BEGIN
    PERFORM set_config('organizeo.system', 'on', true);
    RETURN QUERY SELECT * FROM api_keys k WHERE k.key_hash = digest;
    PERFORM set_config('organizeo.system', coalesce(was, 'off'), true);
END $$;
