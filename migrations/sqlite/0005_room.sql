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
