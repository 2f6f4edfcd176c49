DROP FUNCTION IF EXISTS organizeo_key_by_hash(text);
DROP FUNCTION IF EXISTS organizeo_session_by_token(text);
