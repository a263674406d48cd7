-- An incident may be open without containment (state 'triage'). It keeps the signals that
-- told keyleak about its key (a JSON array), why none of them contained the key on its own,
-- and the key's previous incident, closed before it opened.
ALTER TABLE incidents ADD COLUMN hold TEXT;
ALTER TABLE incidents ADD COLUMN signals TEXT;
ALTER TABLE incidents ADD COLUMN follows TEXT;

-- Each sender's delivery once: EventBridge and GitHub retry until they get a 2xx, and a
-- retried delivery is answered from here, changing nothing.
CREATE TABLE deliveries (
    delivery     TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    received_at  BIGINT NOT NULL
);
