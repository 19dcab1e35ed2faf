// Direct PostgreSQL access for tests: look at and drop the schemas a test created under its prefix.
import pg from 'pg';
import { POSTGRES_URL } from './services.ts';

export async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function schemasUnder(client: pg.Client, prefix: string): Promise<string[]> {
  const { rows } = await client.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname',
    [prefix],
  );
  return rows.map((row) => row.nspname);
}

export async function dropSchemas(client: pg.Client, prefix: string): Promise<void> {
  for (const schema of await schemasUnder(client, prefix)) await client.query(`DROP SCHEMA "${schema}" CASCADE`);
}
