-- The web app's language for this person (en, nl), chosen by them; NULL means the
-- browser's Accept-Language decides.
ALTER TABLE users ADD COLUMN locale TEXT;
