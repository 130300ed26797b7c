/**
 * Opens the metadata store named by a database URL: `sqlite:<file>` (the embedded default) or
 * `postgres://…`. Dialect differences stop here.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import type { Store } from "../domain/resource.js";
import { migrateToLatest } from "./migrations.js";
import type { Database } from "./schema.js";
import { SqlStore } from "./sql-store.js";
import { SqliteReads } from "./sqlite-reads.js";
import { withStatementCache, type WriteCounter } from "./statement-cache.js";

export async function openStore(databaseUrl: string): Promise<Store> {
  const { db, sqlite, counter } = await openDatabase(databaseUrl);
  try {
    await migrateToLatest(db as Kysely<unknown>);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  // Prepared after the migrations: the statement needs the resources table.
  return new SqlStore(db, { direct: sqlite && new SqliteReads(sqlite, counter), sqlite });
}

/**
 * The database a URL names, as it is: `openStore` migrates it first; a test makes it into an
 * older release's schema (`migrateUpTo`) to check what an upgrade does to its data.
 */
export async function openDatabase(databaseUrl: string) {
  const counter: WriteCounter = { writes: 0 };
  const { dialect, sqlite } = await dialectFor(databaseUrl, counter);
  return { db: new Kysely<Database>({ dialect }), sqlite, counter };
}

async function dialectFor(databaseUrl: string, counter: WriteCounter) {
  if (databaseUrl.startsWith("postgres://") || databaseUrl.startsWith("postgresql://")) {
    // Loaded on demand: the embedded default shouldn't pay for the PostgreSQL driver at start-up.
    const { default: pg } = await import("pg");
    return {
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: databaseUrl, max: 10 }),
      }),
    };
  }
  if (databaseUrl.startsWith("sqlite:")) {
    const file = databaseUrl.slice("sqlite:".length);
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    const sqlite = new SQLite(file);
    // WAL keeps readers off the writer's back; NORMAL survives a process crash (a power cut may
    // lose the last commits, never corrupt the file).
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    // 4 MB of page cache instead of better-sqlite3's 16: the OS caches the file too, and hot
    // answers are reused without a read (answer-cache.ts); 12 MB less RSS once a seed or a list
    // has touched the pages.
    sqlite.pragma("cache_size = -4000");
    return {
      dialect: new SqliteDialect({ database: withStatementCache(sqlite, counter) }),
      sqlite,
    };
  }
  throw new Error(`unsupported database URL '${databaseUrl}': use sqlite:<file> or postgres://…`);
}
