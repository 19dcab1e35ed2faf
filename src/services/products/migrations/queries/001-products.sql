-- Products read model: every product at its latest version, built only from the products event stream.
CREATE TABLE products (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  value_cents BIGINT NOT NULL,
  stock BIGINT NOT NULL,
  version BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
