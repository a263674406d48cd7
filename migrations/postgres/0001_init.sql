-- The whole schema of migrations/sqlite/0001–0007 as PostgreSQL writes it. Times are Unix
-- milliseconds (BIGINT), JSON documents TEXT: the store's SQL is the same on both databases.

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    access_key_id   TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT,
    requested_by    TEXT NOT NULL,
    opened_at       BIGINT NOT NULL,
    fence_time      BIGINT NOT NULL,
    contained_at    BIGINT,
    account_id      TEXT,
    user_name       TEXT,
    slack_channel   TEXT,
    slack_ts        TEXT,
    late_activity   BIGINT
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
    finished_at  BIGINT NOT NULL,
    reply_ts     TEXT,
    PRIMARY KEY (incident_id, kind)
);

CREATE TABLE snapshots (
    incident_id  TEXT PRIMARY KEY REFERENCES incidents (id),
    snapshot     TEXT NOT NULL,
    taken_at     BIGINT NOT NULL
);

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    state         TEXT NOT NULL,          -- queued, running, done, failed
    attempts      BIGINT NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    last_error    TEXT,
    response_url  TEXT,                   -- Slack's URL for a private follow-up to the requester
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    payload       TEXT,                   -- the rest of the job's work, as JSON
    not_before    BIGINT,                 -- a job that failed for a passing reason waits
    locked_by     TEXT                    -- the worker running it
);

CREATE INDEX jobs_claimable ON jobs (state, locked_until);

-- Other replicas' workers are woken as soon as a job is queued (polling is the fallback).
CREATE FUNCTION jobs_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NOTIFY keyleak_jobs;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_queued AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_queued();

-- When each worker last said it was alive: a job whose worker has gone silent is taken over
-- without waiting for its whole lease.
CREATE TABLE workers (
    owner    TEXT PRIMARY KEY,
    beat_at  BIGINT NOT NULL
);

CREATE TABLE audit (
    id           BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    incident_id  TEXT,
    detail       TEXT NOT NULL,
    origin       TEXT NOT NULL           -- which verified request (or CLI run) it came from
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$;

CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Destructive actions wait here for a second person (DESIGN.md §4).
CREATE TABLE proposals (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    action          TEXT NOT NULL,          -- the action's canonical JSON
    params_hash     TEXT NOT NULL,          -- SHA-256 of `action` when proposed
    requested_by    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    required        BIGINT NOT NULL,
    state           TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    outcome         TEXT,
    -- The message the proposal's buttons sit on. A click counts only from that message.
    message_channel TEXT,
    message_ts      TEXT,
    -- The job that won approved → executing; only it may continue after a crash.
    executing_job   BIGINT,
    -- Proposals made in the same millisecond are listed in the order they were made, as
    -- SQLite's implicit rowid orders them.
    rowid           BIGSERIAL
);

CREATE INDEX proposals_by_incident ON proposals (incident_id, created_at);
CREATE INDEX proposals_pending_expiry ON proposals (state, expires_at);

CREATE TABLE proposal_approvals (
    proposal_id  TEXT NOT NULL REFERENCES proposals (id),
    approver     TEXT NOT NULL,
    at           BIGINT NOT NULL,
    PRIMARY KEY (proposal_id, approver)
);

-- One row per investigate job, and the message its progress and summary are drawn in.
CREATE TABLE investigations (
    job_id          BIGINT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id),
    message_channel TEXT,
    message_ts      TEXT,
    finished_at     BIGINT,
    findings        TEXT
);
CREATE INDEX investigations_by_incident ON investigations (incident_id, finished_at);

-- The timeline, secrets already removed, keyed by CloudTrail's own event id.
CREATE TABLE trail_events (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    event_id    TEXT NOT NULL,
    event_time  BIGINT NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (incident_id, event_id)
);
CREATE INDEX trail_events_by_time ON trail_events (incident_id, event_time);

-- The files of the latest post-incident report.
CREATE TABLE reports (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    files       TEXT NOT NULL,
    made_at     BIGINT NOT NULL
);

-- Restore: where the new key was handed over (never its secret).
CREATE TABLE restores (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    job_id      BIGINT NOT NULL,
    state       TEXT NOT NULL,
    handover    TEXT,
    updated_at  BIGINT NOT NULL
);

-- Monitoring after containment.
CREATE TABLE monitors (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    next_at     BIGINT NOT NULL,
    checked_to  BIGINT NOT NULL
);
