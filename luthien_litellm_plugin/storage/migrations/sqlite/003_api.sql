-- The client-facing API of each transaction (`chat`, `messages`, `responses`): a column, so the
-- viewer and the CLI can filter on it. Rows recorded before take it from their request event.
ALTER TABLE transactions ADD COLUMN api TEXT;
UPDATE transactions SET api = (
    SELECT json_extract(e.payload, '$.api') FROM events e
    WHERE e.transaction_id = transactions.transaction_id AND e.event_type = 'transaction.request_recorded'
    LIMIT 1
) WHERE api IS NULL;
