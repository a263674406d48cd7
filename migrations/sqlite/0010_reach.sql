-- What the key could do: IAM's policy simulator over the snapshot's policies and
-- Access Advisor's services, assessed once after the snapshot; and the ts of its thread reply,
-- so that the list is said once.
ALTER TABLE incidents ADD COLUMN reach TEXT;
ALTER TABLE incidents ADD COLUMN reach_ts TEXT;
