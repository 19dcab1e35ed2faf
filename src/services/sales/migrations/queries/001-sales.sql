-- Sales read model: sellers and sales as the seed's clients read them, built only from the sales event stream.
CREATE TABLE sellers (
  id BIGINT PRIMARY KEY,
  seq BIGINT NOT NULL,
  nombre TEXT NOT NULL,
  apellido TEXT NOT NULL,
  tipo_documento TEXT NOT NULL,
  numero_documento TEXT NOT NULL,
  telefono TEXT NOT NULL
);
CREATE TABLE sales (
  id BIGINT PRIMARY KEY,
  seq BIGINT NOT NULL UNIQUE,
  producto TEXT NOT NULL,
  cantidad BIGINT NOT NULL,
  cliente TEXT NOT NULL,
  vendedor BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL
);
CREATE INDEX sales_vendedor ON sales (vendedor);
