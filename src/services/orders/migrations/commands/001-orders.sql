-- Orders write model: orders and their state, the service's own replicas of users and products (fed by their event streams) and the responses of idempotent requests.
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  product_id TEXT NOT NULL,
  quantity BIGINT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  placed_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE user_replica (
  id TEXT PRIMARY KEY,
  username TEXT,
  email TEXT,
  seq BIGINT NOT NULL
);
CREATE TABLE product_replica (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  value_cents BIGINT NOT NULL,
  stock BIGINT NOT NULL,
  version BIGINT NOT NULL
);
CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
