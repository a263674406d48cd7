-- Evidence kept before a cleanup destroyed anything: AWS's description of the target, read
-- just before the approved action ran, one per proposal (JSON, with where its copy went).
CREATE TABLE evidence (
    proposal_id TEXT PRIMARY KEY REFERENCES proposals (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    taken_at    INTEGER NOT NULL,
    evidence    TEXT NOT NULL
);
CREATE INDEX evidence_by_incident ON evidence (incident_id, taken_at);
