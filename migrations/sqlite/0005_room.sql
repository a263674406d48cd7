-- The incident room (issue 5): the files of the latest post-incident report, so that writing
-- the report again replaces them in Slack instead of adding a second copy.
CREATE TABLE reports (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id),
    files       TEXT NOT NULL,
    made_at     INTEGER NOT NULL
);
