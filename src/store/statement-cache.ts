/**
 * Kysely's SQLite driver prepares every query afresh, and preparing costs more than running the
 * small keyed queries of the hot paths (a GET spends more time compiling its SQL in SQLite than
 * executing it). The store issues a small, fixed set of SQL texts, so each is prepared once and
 * reused. Kysely runs one query at a time on the single connection and `all`/`run` finish
 * synchronously, so sharing a statement is safe; a statement still being iterated (a streamed
 * query) is never handed out again: a fresh one is prepared instead.
 */
import type { Database, Statement } from "better-sqlite3";
import type { SqliteDatabase } from "kysely";

/** Distinct SQL texts kept; `in (…)` lists of new lengths could otherwise grow the map forever. */
const MAX_STATEMENTS = 500;

export function withStatementCache(db: Database): SqliteDatabase {
  const statements = new Map<string, Statement>();
  return {
    prepare(sql) {
      let statement = statements.get(sql);
      if (!statement || statement.busy) {
        statement = db.prepare(sql);
        if (statements.size >= MAX_STATEMENTS) statements.clear();
        statements.set(sql, statement);
      }
      return statement;
    },
    close() {
      statements.clear();
      db.close();
    },
  };
}
