/**
 * Queries of the hot paths, built and compiled by Kysely once per store instead of on every call.
 * Building and compiling a small keyed statement costs several times what SQLite spends running it
 * (measured over 1,000 disk creations from an image: ~0.4 ms of building and compiling per
 * creation, ~0.25 ms of SQLite); the SQL text and the order of its parameters never change, only
 * their values do.
 *
 * A query is built the first time with a marker in place of each argument; the compiled
 * parameters then say which argument goes where (values the query fixes itself stay as they
 * are). So a query given here must have one shape for every argument value: no `in (…)` of an
 * argument list, no clause added or left out depending on an argument.
 *
 * One `CompiledQueries` per store root, shared by its transactions: the SQL is the dialect's.
 */
import { CompiledQuery, type Compilable, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;
/** Named arguments: the values of parameters, never a list, never a piece of SQL. */
type Args<A> = { [K in keyof A]: string | number | null };

/** Marks an argument's place in the first build; no value a query fixes itself starts so. */
const MARKER = "\u0000ocg-arg:";

interface Compiled {
  sql: string;
  /** For each parameter: the name of the argument it takes, or the fixed value. */
  slots: ({ arg: string } | { value: unknown })[];
}

export class CompiledQueries {
  private readonly compiled = new Map<object, Compiled>();

  /**
   * Runs `build`'s query with `args`, which always have the same names. `build` must be the same
   * function (not a new closure) each time: it is the key of the compiled query.
   */
  async execute<R, A extends Args<A>>(
    db: Db,
    build: (db: Db, args: A) => Compilable<R>,
    args: A,
  ): Promise<R[]> {
    let c = this.compiled.get(build);
    if (!c) {
      const names = Object.keys(args);
      const markers = Object.fromEntries(names.map((n) => [n, `${MARKER}${n}`])) as A;
      const query = build(db, markers).compile();
      c = {
        sql: query.sql,
        slots: query.parameters.map((p) =>
          typeof p === "string" && p.startsWith(MARKER)
            ? { arg: p.slice(MARKER.length) }
            : { value: p },
        ),
      };
      const used = new Set(c.slots.flatMap((s) => ("arg" in s ? [s.arg] : [])));
      if (used.size !== names.length) {
        throw new Error(`a compiled query must use each argument as a parameter: ${c.sql}`);
      }
      this.compiled.set(build, c);
    }
    const named = args as Record<string, unknown>;
    const parameters = c.slots.map((s) => ("arg" in s ? named[s.arg] : s.value));
    const result = await db.executeQuery<R>(CompiledQuery.raw(c.sql, parameters));
    return result.rows;
  }
}
