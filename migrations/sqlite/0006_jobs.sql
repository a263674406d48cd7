-- Hardening (issue 10): a job that failed for a passing reason (Slack not answering) waits
-- until `not_before` before it is claimed again.
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
