-- Hardening (issue 10): a job that failed for a passing reason (Slack not answering) waits
-- until `not_before` before it is claimed again.
ALTER TABLE jobs ADD COLUMN not_before INTEGER;

-- Which worker holds a running job, and when each worker last said it was alive: a job whose
-- worker has gone silent is taken over without waiting for its whole lease (a restarted
-- process resumes its own containment within seconds).
ALTER TABLE jobs ADD COLUMN locked_by TEXT;
CREATE TABLE workers (
    owner    TEXT PRIMARY KEY,
    beat_at  INTEGER NOT NULL
);
