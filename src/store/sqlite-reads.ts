/**
 * The read behind every GET of a resource, straight from better-sqlite3 instead of through Kysely.
 * Through Kysely, a one-row lookup by key costs about twice what SQLite spends on it: the query is
 * built and compiled anew, queued behind the connection mutex across several promise turns, and
 * better-sqlite3 names every column of the row object (interning each name again per row). Here
 * the statement is prepared once and returns the row as an array.
 *
 * Outside a transaction, only while none is open on the one connection: Kysely's SQLite driver
 * keeps a transaction's connection across awaits, and a read on the same connection in between
 * would see its uncommitted writes. With none open, the read sees the committed state, as a query
 * queued through Kysely at that moment would; otherwise callers go through Kysely and wait their
 * turn. Inside a transaction, that transaction's own reads may come here: it holds the connection
 * from BEGIN to COMMIT, so the read is part of it and sees its writes, as a read through it would.
 */
import type { Database, Statement } from "better-sqlite3";
import type { ResourcesTable } from "./schema.js";
import type { WriteCounter } from "./statement-cache.js";

/** The columns a resource record is made of, in the order of the row arrays. */
const COLUMNS = [
  "key",
  "id",
  "subscription_id",
  "resource_group",
  "type",
  "parent_key",
  "name",
  "location",
  "tags",
  "properties",
  "unique_key",
  "system_data",
] as const satisfies readonly (keyof ResourcesTable)[];

export type ResourceRow = Pick<ResourcesTable, (typeof COLUMNS)[number]>;

type Values = [
  string,
  string,
  string,
  string,
  string,
  string | null,
  string,
  string,
  string | null,
  string,
  string | null,
  string,
];

export class SqliteReads {
  private readonly byKey: Statement<[string], Values>;

  constructor(
    private readonly db: Database,
    private readonly counter: WriteCounter,
  ) {
    this.byKey = db
      .prepare<[string], Values>(`select ${COLUMNS.join(", ")} from resources where key = ?`)
      .raw(true);
  }

  /** False while a transaction is open: then read through Kysely (unless the reader is it). */
  get usable(): boolean {
    return !this.db.inTransaction && this.db.open;
  }

  /**
   * Changes whenever the database may have changed; undefined while a transaction is open (its
   * writes are not committed yet, so nothing read now may be remembered as committed state).
   */
  changeStamp(): number | undefined {
    return this.usable ? this.counter.writes : undefined;
  }

  resource(key: string): ResourceRow | undefined {
    const r = this.byKey.get(key);
    if (!r) return undefined;
    return {
      key: r[0],
      id: r[1],
      subscription_id: r[2],
      resource_group: r[3],
      type: r[4],
      parent_key: r[5],
      name: r[6],
      location: r[7],
      tags: r[8],
      properties: r[9],
      unique_key: r[10],
      system_data: r[11],
    };
  }
}
