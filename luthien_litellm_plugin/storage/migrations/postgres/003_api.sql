-- The client-facing API of each transaction (`chat`, `messages`, `responses`): a column, so the
-- viewer and the CLI can filter on it. Rows recorded before take it from their request event.
ALTER TABLE luthien.transactions ADD COLUMN IF NOT EXISTS api text;
UPDATE luthien.transactions t SET api = e.payload->>'api'
FROM luthien.events e
WHERE e.transaction_id = t.transaction_id AND e.event_type = 'transaction.request_recorded' AND t.api IS NULL;
