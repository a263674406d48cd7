-- The incident room (issue 5): the files of the latest post-incident report, so that writing
-- the report again replaces them in Slack instead of adding a second copy.
CREATE TABLE reports (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
    files       TEXT NOT NULL,
    made_at     INTEGER NOT NULL
);

-- Restore: where the new key was handed over (never its secret). While `state` is 'issuing',
-- only the job `job_id` may create the key, so pressing Restore twice makes one key.
CREATE TABLE restores (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
    job_id      INTEGER NOT NULL,
    state       TEXT NOT NULL,
    handover    TEXT,
    updated_at  INTEGER NOT NULL
);

-- Monitoring after containment: when each incident is next polled, and up to when CloudTrail
-- was read. The first call seen after containment marks the incident.
ALTER TABLE incidents ADD COLUMN late_activity INTEGER;
CREATE TABLE monitors (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
    next_at     INTEGER NOT NULL,
    checked_to  INTEGER NOT NULL
);
