/**
 * Kysely's SQLite driver prepares every query afresh, and preparing costs more than running the
 * small keyed queries of the hot paths (a GET spends more time compiling its SQL in SQLite than
 * executing it). The store issues a small, fixed set of SQL texts, so each is prepared once and
 * reused. Kysely runs one query at a time on the single connection and `all`/`run` finish
 * synchronously, so sharing a statement is safe; a statement still being iterated (a streamed
 * query) is never handed out again: a fresh one is prepared instead.
 *
 * It also counts the statements that may change the database (`writes`), which is what lets a
 * reader tell cheaply that nothing changed since it last looked (see `SqliteReads.changeStamp`).
 * Every write of the embedded store passes here: Kysely is the only writer on the one connection.
 */
import type { Database, Statement } from "better-sqlite3";
import type { SqliteDatabase, SqliteStatement } from "kysely";

/** Distinct SQL texts kept; `in (…)` lists of new lengths could otherwise grow the map forever. */
const MAX_STATEMENTS = 500;

export interface WriteCounter {
  writes: number;
}

export function withStatementCache(db: Database, counter: WriteCounter): SqliteDatabase {
  const statements = new Map<string, { raw: Statement; wrapped: SqliteStatement }>();
  return {
    prepare(sql) {
      let statement = statements.get(sql);
      if (!statement || statement.raw.busy) {
        const raw = db.prepare(sql);
        // BEGIN/COMMIT are "read-only" to SQLite; the writes between them are counted themselves.
        statement = { raw, wrapped: raw.readonly ? raw : counted(raw, counter) };
        if (statements.size >= MAX_STATEMENTS) statements.clear();
        statements.set(sql, statement);
      }
      return statement.wrapped;
    },
    close() {
      statements.clear();
      db.close();
    },
  };
}

/** Counted after running, in `finally`: a statement that failed half-way may have written too. */
function counted(raw: Statement, counter: WriteCounter): SqliteStatement {
  return {
    reader: raw.reader,
    all(parameters) {
      try {
        return raw.all(parameters);
      } finally {
        counter.writes++;
      }
    },
    run(parameters) {
      try {
        return raw.run(parameters);
      } finally {
        counter.writes++;
      }
    },
    iterate(parameters) {
      counter.writes++;
      return raw.iterate(parameters);
    },
  };
}
