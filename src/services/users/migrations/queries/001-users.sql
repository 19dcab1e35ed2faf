-- Users read model: the public fields of every registered user, built only from the users event stream.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL UNIQUE,
  email TEXT,
  email_key TEXT,
  username TEXT,
  name TEXT,
  registered_by TEXT NOT NULL,
  registered_at BIGINT NOT NULL
);
CREATE INDEX users_email_key ON users (email_key);
