-- Registration worker: seed 000's own user table (one row per email), the requests it has seen, the simulated failures already fired and the failure log.
CREATE TABLE registered_users (
  email_key TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  job_id TEXT NOT NULL,
  registered_by TEXT NOT NULL,
  instance TEXT NOT NULL,
  registered_at BIGINT NOT NULL
);
CREATE TABLE registration_requests (
  job_id TEXT PRIMARY KEY,
  email_key TEXT NOT NULL,
  email TEXT NOT NULL,
  failure_uuid TEXT,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT,
  received_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX registration_requests_email ON registration_requests (email_key);
CREATE TABLE simulated_failures (
  failure_key TEXT NOT NULL,
  stage TEXT NOT NULL,
  job_id TEXT NOT NULL,
  failed_at BIGINT NOT NULL,
  PRIMARY KEY (failure_key, stage)
);
CREATE TABLE failure_log (
  job_id TEXT PRIMARY KEY,
  email TEXT NOT NULL,
  failure_uuid TEXT,
  last_error TEXT,
  logged_at BIGINT NOT NULL,
  replayed_at BIGINT
);
