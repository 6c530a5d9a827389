-- The operator's view (issue 12): a dry run is recorded as such, and each run names its target
-- table so `brx-sync sweep` can test the run's scope lock without knowing the dataset description.
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS dry_run boolean NOT NULL DEFAULT false;
ALTER TABLE sync_runs ADD COLUMN IF NOT EXISTS target_table text;
CREATE INDEX IF NOT EXISTS sync_runs_started_idx ON sync_runs (started_at DESC);
