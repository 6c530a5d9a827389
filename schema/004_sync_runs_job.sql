-- A queued sync names its job (issue 9's workers): a job retried after its run already committed
-- (its worker died between COMMIT and marking the job done) finds that run here instead of syncing again.
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS job_id text;
CREATE INDEX IF NOT EXISTS sync_runs_job_idx ON sync_runs (job_id) WHERE job_id IS NOT NULL;
