-- Times are Unix milliseconds (INTEGER) so that comparisons are numeric and portable.

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    access_key_id   TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT,
    requested_by    TEXT NOT NULL,
    opened_at       INTEGER NOT NULL,
    fence_time      INTEGER NOT NULL,
    contained_at    INTEGER,
    account_id      TEXT,
    user_name       TEXT,
    slack_channel   TEXT,
    slack_ts        TEXT
);

-- At most one open incident per key: a double submit reuses it.
CREATE UNIQUE INDEX incidents_one_open_per_key
    ON incidents (access_key_id) WHERE state <> 'closed';

-- `status` lists the newest open incidents.
CREATE INDEX incidents_open_by_time
    ON incidents (opened_at) WHERE state <> 'closed';

CREATE TABLE steps (
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    fact         TEXT NOT NULL,
    request_id   TEXT,
    finished_at  INTEGER NOT NULL,
    reply_ts     TEXT,
    PRIMARY KEY (incident_id, kind)
);

CREATE TABLE snapshots (
    incident_id  TEXT PRIMARY KEY REFERENCES incidents (id),
    snapshot     TEXT NOT NULL,
    taken_at     INTEGER NOT NULL
);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    state         TEXT NOT NULL,          -- queued, running, done, failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    last_error    TEXT,
    response_url  TEXT,                   -- Slack's URL for a private follow-up to the requester
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

CREATE INDEX jobs_claimable ON jobs (state, locked_until);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    incident_id  TEXT,
    detail       TEXT NOT NULL,
    origin       TEXT NOT NULL           -- which verified request (or CLI run) it came from
);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
