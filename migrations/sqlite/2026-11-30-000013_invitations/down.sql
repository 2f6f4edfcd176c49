ALTER TABLE mfa_challenges DROP COLUMN invitation_id;
DROP TABLE invitations;
