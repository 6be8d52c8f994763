-- Which process opened a transaction (`<pid>-<16 hex>`): a later start closes the transactions a
-- dead process left `started`.
ALTER TABLE luthien.transactions ADD COLUMN IF NOT EXISTS process text;
CREATE INDEX IF NOT EXISTS transactions_started_by_process ON luthien.transactions (process) WHERE status = 'started';
