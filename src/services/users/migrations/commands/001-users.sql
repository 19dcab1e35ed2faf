-- Users write model: registered users (email and username unique, password as scrypt hash) and the responses of idempotent requests.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT,
  email_key TEXT UNIQUE,
  username TEXT,
  username_key TEXT UNIQUE,
  name TEXT,
  password_hash TEXT,
  registered_by TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
