-- Destructive actions wait here for a second person (DESIGN.md §4).

CREATE TABLE proposals (
    id            TEXT PRIMARY KEY,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    action        TEXT NOT NULL,          -- the action's canonical JSON
    params_hash   TEXT NOT NULL,          -- SHA-256 of `action` when proposed
    requested_by  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    required      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    decided_by    TEXT,
    decided_at    INTEGER,
    outcome       TEXT
);

CREATE TABLE proposal_approvals (
    proposal_id  TEXT NOT NULL REFERENCES proposals (id),
    approver     TEXT NOT NULL,
    at           INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, approver)
);
