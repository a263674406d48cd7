-- Cleanup (issue 3): jobs carry what they act on; proposals remember their Slack message and
-- the job that executes them.

-- What a job acts on, as JSON: the targets of a cleanup request, or the proposal to execute.
ALTER TABLE jobs ADD COLUMN payload TEXT;

-- The message the proposal's buttons sit on. A click counts only from that message.
ALTER TABLE proposals ADD COLUMN message_channel TEXT;
ALTER TABLE proposals ADD COLUMN message_ts TEXT;
-- The job that won approved → executing. If its worker dies, the same job (re-claimed after
-- its lease) may continue; nobody else may.
ALTER TABLE proposals ADD COLUMN executing_job INTEGER;

CREATE INDEX proposals_by_incident ON proposals (incident_id, created_at);
CREATE INDEX proposals_pending_expiry ON proposals (state, expires_at);
