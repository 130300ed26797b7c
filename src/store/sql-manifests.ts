/**
 * Manifest rows and their bodies. A row says that a resource's content is stored at a location;
 * its manifest text lives once in `manifest_bodies`, keyed by the SHA-256 of that text, however
 * many rows share it: a thousand disks deployed from one image version point at one body instead
 * of holding a thousand copies of it (≈75 KB each for a 4 GiB image).
 *
 * Invariants, kept inside the caller's transaction:
 * - every row's body exists (a foreign key, on both dialects);
 * - a body no row points at is deleted by the call that removed its last row (put, copy or a
 *   delete), so bodies never outlive their content. On PostgreSQL, a transaction removing the
 *   last row of a body and another adding a row for it at the same moment end with one of them
 *   failing on the foreign key, never with a dangling row.
 */
import { createHash } from "node:crypto";
import {
  sql,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SelectQueryBuilder,
  type Transaction,
} from "kysely";
import type { CompiledQueries } from "./compiled-queries.js";
import type { ManifestRecord, ManifestRepository } from "../domain/resource.js";
import type { Database } from "./schema.js";
import { resourceKeyStartsWith, UNFINISHED } from "./sql-replicas.js";

type Db = Kysely<Database> | Transaction<Database>;

/** Body ids per statement when purging: well under both dialects' limits on bound parameters. */
const PURGE_BATCH = 500;

/** The key of a manifest body: the SHA-256 (lower-case hex) of its text. */
export const bodyIdOf = (text: string) => createHash("sha256").update(text).digest("hex");

/** `text` with LIKE's wildcards and its escape character escaped (escape character `\`). */
const likeEscaped = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

type RowWithBody = Selectable<Database["manifests"]> & { body: string };

function toManifest(row: RowWithBody): ManifestRecord {
  return {
    resourceKey: row.resource_key,
    location: row.location,
    manifest: JSON.parse(row.body),
    digest: row.digest,
    createdAt: row.created_at,
  };
}

const locationsOf = (db: Db, a: { resourceKey: string }) =>
  db.selectFrom("manifests").select("location").where("resource_key", "=", a.resourceKey);

const removeOne = (db: Db, a: { resourceKey: string; location: string }) =>
  db
    .deleteFrom("manifests")
    .where("resource_key", "=", a.resourceKey)
    .where("location", "=", a.location)
    .returning("body_id");

const copyRow = (
  db: Db,
  a: { fromKey: string; location: string; toKey: string; createdAt: string },
) =>
  // Only the row is new: it points at the source's body, which therefore stays.
  db
    .insertInto("manifests")
    .columns(["resource_key", "location", "body_id", "digest", "created_at"])
    .expression((eb) =>
      eb
        .selectFrom("manifests")
        .select([
          eb.val(a.toKey).as("resource_key"),
          "location",
          "body_id",
          "digest",
          eb.val(a.createdAt).as("created_at"),
        ])
        .where("resource_key", "=", a.fromKey)
        .where("location", "=", a.location),
    );

export class SqlManifestRepository implements ManifestRepository {
  constructor(
    private readonly db: Db,
    private readonly queries: CompiledQueries,
  ) {}

  private withBodies() {
    return this.db
      .selectFrom("manifests")
      .innerJoin("manifest_bodies", "manifest_bodies.id", "manifests.body_id")
      .select([
        "manifests.resource_key",
        "manifests.location",
        "manifests.body_id",
        "manifests.digest",
        "manifests.created_at",
        "manifest_bodies.body",
      ]);
  }

  async get(resourceKey: string, location: string) {
    const row = await this.withBodies()
      .where("manifests.resource_key", "=", resourceKey)
      .where("manifests.location", "=", location)
      .executeTakeFirst();
    return row && toManifest(row);
  }

  async put(m: ManifestRecord) {
    const body = JSON.stringify(m.manifest);
    const id = bodyIdOf(body);
    // The replaced row goes first and its body last: a body shared by both rows must not be
    // purged in between.
    const replaced = await this.remove(m.resourceKey, m.location);
    await this.db
      .insertInto("manifest_bodies")
      .values({ id, body })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    await this.db
      .insertInto("manifests")
      .values({
        resource_key: m.resourceKey,
        location: m.location,
        body_id: id,
        digest: m.digest,
        created_at: m.createdAt,
      })
      .execute();
    await this.purge(replaced);
  }

  async recordDigest(manifest: unknown, sha256: string) {
    const from = bodyIdOf(JSON.stringify(manifest));
    const body = JSON.stringify({ ...(manifest as object), sha256 });
    const id = bodyIdOf(body);
    await this.db
      .insertInto("manifest_bodies")
      .values({ id, body })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    const result = await this.db
      .updateTable("manifests")
      .set({ body_id: id, digest: sha256 })
      .where("body_id", "=", from)
      .executeTakeFirst();
    await this.purge([from]);
    return Number(result.numUpdatedRows);
  }

  async deleteOne(resourceKey: string, location: string) {
    await this.purge(await this.remove(resourceKey, location));
  }

  async deleteAll(resourceKey: string) {
    const gone = await this.remove(resourceKey);
    await this.purge(gone);
    return gone.length;
  }

  async listReferencedAt(location: string) {
    // One statement, hence one snapshot on both dialects: a job that completes between two reads
    // would otherwise be seen by neither, its manifest committed after the first and its pin gone
    // before the second.
    const pinned = `%${likeEscaped(JSON.stringify(location))}%`;
    return this.bodiesOf((eb) =>
      this.rowsAt(eb, location).union(
        eb
          .selectFrom("manifests as m")
          .innerJoin("replicas as r", (join) =>
            join.on(
              sql`substr(m.resource_key, 1, length(r.resource_key) + 1)`,
              "=",
              sql`r.resource_key || '|'`,
            ),
          )
          .select("m.body_id")
          .where("r.state", "in", UNFINISHED)
          .where(sql<boolean>`r.locations like ${pinned} escape '\\'`),
      ),
    );
  }

  async listManifestsUnder(location: string, keyPrefix: string) {
    return this.bodiesOf((eb) =>
      this.rowsAt(eb, location).where(
        sql<boolean>`substr(resource_key, 1, ${keyPrefix.length}) = ${keyPrefix}`,
      ),
    );
  }

  /** The body ids of a location's rows. */
  private rowsAt(eb: ExpressionBuilder<Database, "manifest_bodies">, location: string) {
    return eb.selectFrom("manifests").select("body_id").where("location", "=", location);
  }

  /** The manifests whose body ids `ids` selects, each once. */
  private async bodiesOf(
    ids: (
      eb: ExpressionBuilder<Database, "manifest_bodies">,
    ) => SelectQueryBuilder<Database, "manifests" | "manifest_bodies", { body_id: string }>,
  ) {
    const rows = await this.db
      .selectFrom("manifest_bodies")
      .select("body")
      .where("id", "in", ids)
      .execute();
    return rows.map((r) => JSON.parse(r.body) as unknown);
  }

  async listLocations(resourceKey: string) {
    const rows = await this.queries.execute(this.db, locationsOf, { resourceKey });
    return rows.map((r) => r.location);
  }

  async copy(fromKey: string, location: string, toKey: string, createdAt: string) {
    await this.deleteOne(toKey, location);
    await this.queries.execute(this.db, copyRow, { fromKey, location, toKey, createdAt });
  }

  async listByResource(resourceKey: string) {
    const rows = await this.withBodies()
      .where("manifests.resource_key", "=", resourceKey)
      .execute();
    return rows.map(toManifest);
  }

  async deleteByPrefix(prefix: string) {
    const gone = await this.db
      .deleteFrom("manifests")
      .where((eb) => resourceKeyStartsWith(eb, prefix))
      .returning("body_id")
      .execute();
    await this.purge(gone.map((r) => r.body_id));
    return gone.length;
  }

  /** Deletes the rows of a resource (at one location, or all); returns their body ids. */
  private async remove(resourceKey: string, location?: string) {
    if (location !== undefined) {
      const gone = await this.queries.execute(this.db, removeOne, { resourceKey, location });
      return gone.map((r) => r.body_id);
    }
    const gone = await this.db
      .deleteFrom("manifests")
      .where("resource_key", "=", resourceKey)
      .returning("body_id")
      .execute();
    return gone.map((r) => r.body_id);
  }

  /** Deletes those of `ids` that no row points at any more. */
  private async purge(ids: readonly string[]) {
    const distinct = [...new Set(ids)];
    for (let i = 0; i < distinct.length; i += PURGE_BATCH) {
      await this.db
        .deleteFrom("manifest_bodies")
        .where("id", "in", distinct.slice(i, i + PURGE_BATCH))
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom("manifests")
                .select("manifests.body_id")
                .whereRef("manifests.body_id", "=", "manifest_bodies.id"),
            ),
          ),
        )
        .execute();
    }
  }
}
