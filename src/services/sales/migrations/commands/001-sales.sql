-- Sales write model: sellers (one per document type and number), their sales, id counters and the answers of idempotent requests.
CREATE TABLE id_counters (
  name TEXT PRIMARY KEY,
  last_id BIGINT NOT NULL
);
CREATE TABLE sellers (
  id BIGINT PRIMARY KEY,
  nombre TEXT NOT NULL,
  apellido TEXT NOT NULL,
  tipo_documento TEXT NOT NULL,
  numero_documento TEXT NOT NULL,
  document_key TEXT NOT NULL,
  telefono TEXT NOT NULL,
  sales_count BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (tipo_documento, document_key)
);
CREATE TABLE sales (
  id BIGINT PRIMARY KEY,
  seller_id BIGINT NOT NULL REFERENCES sellers (id),
  producto TEXT NOT NULL,
  cantidad BIGINT NOT NULL,
  cliente TEXT NOT NULL,
  recorded_by TEXT NOT NULL,
  recorded_at BIGINT NOT NULL
);
CREATE INDEX sales_seller ON sales (seller_id);
CREATE TABLE idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
