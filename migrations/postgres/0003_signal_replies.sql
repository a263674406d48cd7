-- How many of the incident's signals (in arrival order) have their own reply in its thread:
-- a signal that joins an open incident is said there once, as evidence.
ALTER TABLE incidents ADD COLUMN signals_said BIGINT NOT NULL DEFAULT 0;
