-- Orders read model: every order and its latest state, built only from the orders event stream.
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  seq BIGINT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  product_id TEXT NOT NULL,
  quantity BIGINT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX orders_state ON orders (state, seq);
