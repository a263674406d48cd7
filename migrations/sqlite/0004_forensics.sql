-- Forensics (issue 4): each investigation's findings, and the CloudTrail events it read.

-- One row per investigate job. The message is the one progress and the summary are drawn in,
-- so a job taken over after a crash edits the same message instead of posting another.
CREATE TABLE investigations (
    job_id          INTEGER PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents(id),
    message_channel TEXT,
    message_ts      TEXT,
    finished_at     INTEGER,
    findings        TEXT
);
CREATE INDEX investigations_by_incident ON investigations (incident_id, finished_at);

-- The timeline: every event of the leaked key and its offspring, secrets already removed.
-- Keyed by CloudTrail's own event id, so looking again adds only what is new.
CREATE TABLE trail_events (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    event_id    TEXT NOT NULL,
    event_time  INTEGER NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (incident_id, event_id)
);
CREATE INDEX trail_events_by_time ON trail_events (incident_id, event_time);
