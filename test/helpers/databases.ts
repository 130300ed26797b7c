/**
 * The databases store tests run on, one test body for all: SQLite always (a new file each time),
 * PostgreSQL when OCG_TEST_POSTGRES_URL names a database (CI sets it; each `url()` empties its
 * public schema, which is safe because test files run one at a time).
 */
import { join } from "node:path";
import SQLite from "better-sqlite3";
import pg from "pg";
import { tempDir } from "./server.js";

const postgresUrl = process.env.OCG_TEST_POSTGRES_URL;

async function freshPostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  } finally {
    await client.end();
  }
  return url;
}

export const DATABASES: { name: string; url: () => Promise<string>; skip?: string }[] = [
  { name: "sqlite", url: async () => `sqlite:${join(tempDir("store"), "metadata.db")}` },
  {
    name: "postgres",
    url: () => freshPostgres(postgresUrl!),
    skip: postgresUrl
      ? undefined
      : "OCG_TEST_POSTGRES_URL is not set: PostgreSQL dialect not tested in this run",
  },
];

/** Rows of a table, counted on a connection of its own (what the store keeps, not what it says). */
export async function countRows(url: string, table: string): Promise<number> {
  if (url.startsWith("sqlite:")) {
    const db = new SQLite(url.slice("sqlite:".length), { readonly: true });
    try {
      return (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query(`select count(*) as n from ${table}`)).rows[0].n);
  } finally {
    await client.end();
  }
}
