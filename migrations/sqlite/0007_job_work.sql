-- A job's work is one value: its kind (the column) and a JSON object of the rest. Jobs
-- written before kept two payloads in other shapes: an execute job's proposal id as a JSON
-- string, an announcement's 'last' or 'progress' as bare words; a monitor job had ''.
UPDATE jobs SET payload = json_object('proposal', json(payload))
    WHERE kind = 'execute' AND json_valid(payload) AND json_type(payload) = 'text';
UPDATE jobs SET payload = CASE payload WHEN 'last' THEN '{"last":true}' ELSE '{"last":false}' END
    WHERE kind = 'announce';
UPDATE jobs SET payload = NULL WHERE payload = '';
