-- One row per sync: a host application shows progress and history from here.
CREATE TABLE IF NOT EXISTS sync_runs (
  id            uuid        PRIMARY KEY,
  dataset       text        NOT NULL,
  scope         jsonb       NOT NULL,
  mode          text        NOT NULL,
  status        text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  pid           integer,
  host          text,
  staging_table text,
  progress      jsonb,
  report        jsonb,
  error_code    text,
  error_message text
);
CREATE INDEX IF NOT EXISTS sync_runs_dataset_scope_started_idx ON sync_runs (dataset, scope, started_at DESC);
CREATE INDEX IF NOT EXISTS sync_runs_running_idx ON sync_runs (status) WHERE status = 'running';

-- Staging tables live here, one per run, UNLOGGED (no WAL for data that is merged and dropped).
CREATE SCHEMA IF NOT EXISTS brx_staging;
