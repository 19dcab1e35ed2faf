-- Products write model: the catalogue (stock never negative), one stock reservation per order (so a redelivered job never reserves twice) and the responses of idempotent requests.
CREATE TABLE products (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  value_cents BIGINT NOT NULL,
  stock BIGINT NOT NULL CHECK (stock >= 0),
  version BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE reservations (
  order_id TEXT PRIMARY KEY,
  product_id TEXT NOT NULL,
  quantity BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  stock_after BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
