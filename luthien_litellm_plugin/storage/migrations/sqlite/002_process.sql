-- Which process opened a transaction (`<pid>-<16 hex>`): a later start closes the transactions a
-- dead process left `started`.
ALTER TABLE transactions ADD COLUMN process TEXT;
CREATE INDEX IF NOT EXISTS transactions_started_by_process ON transactions (process) WHERE status = 'started';
