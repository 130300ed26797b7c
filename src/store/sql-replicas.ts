/**
 * Replicas and their replication jobs (one row each). A worker takes a job by a conditional
 * update of its lease, so two workers — in one process or many, on SQLite or PostgreSQL — never
 * run the same replica at once, and a crashed worker's job is taken over once its lease expires.
 */
import type { ExpressionBuilder, Kysely, Selectable, Transaction } from "kysely";
import type {
  ReplicaKey,
  ReplicaRecord,
  ReplicaRepository,
  ReplicaState,
} from "../domain/resource.js";
import type { CompiledQueries } from "./compiled-queries.js";
import type { Database, ReplicasTable } from "./schema.js";

type Db = Kysely<Database> | Transaction<Database>;

export const UNFINISHED: ReplicaState[] = ["Pending", "Replicating"];
/** How many candidates one claim looks at before giving up to the next poll. */
const CLAIM_CANDIDATES = 8;

/** `resource_key` begins with `prefix` (substr, not LIKE: keys may hold `_` and `%`). */
export function resourceKeyStartsWith(
  eb: ExpressionBuilder<Database, "replicas" | "manifests">,
  prefix: string,
) {
  return eb(eb.fn("substr", ["resource_key", eb.val(1), eb.val(prefix.length)]), "=", prefix);
}

/** The row of `replica`, while `owner` holds its lease. */
const heldBy =
  (replica: ReplicaKey, owner: string) => (eb: ExpressionBuilder<Database, "replicas">) =>
    eb.and({
      resource_key: replica.resourceKey,
      region: replica.region,
      ordinal: replica.ordinal,
      lease_owner: owner,
    });

function toRow(r: ReplicaRecord): ReplicasTable {
  return {
    resource_key: r.resourceKey,
    region: r.region,
    ordinal: r.ordinal,
    storage_account_type: r.storageAccountType,
    locations: JSON.stringify(r.locations),
    state: r.state,
    progress: r.progress,
    details: r.details,
    attempts: r.attempts,
    lease_owner: r.leaseOwner,
    lease_expires_at: r.leaseExpiresAt,
    updated_at: r.updatedAt,
  };
}

function fromRow(row: Selectable<ReplicasTable>): ReplicaRecord {
  return {
    resourceKey: row.resource_key,
    region: row.region,
    ordinal: Number(row.ordinal),
    storageAccountType: row.storage_account_type,
    locations: JSON.parse(row.locations) as string[],
    state: row.state as ReplicaState,
    progress: Number(row.progress),
    details: row.details,
    attempts: Number(row.attempts),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    updatedAt: row.updated_at,
  };
}

const replicasInRegion = (db: Db, a: { resourceKey: string; region: string }) =>
  db
    .selectFrom("replicas")
    .selectAll()
    .where("resource_key", "=", a.resourceKey)
    .where("region", "=", a.region);

export class SqlReplicaRepository implements ReplicaRepository {
  constructor(
    private readonly db: Db,
    private readonly queries: CompiledQueries,
  ) {}

  async insert(replicas: readonly ReplicaRecord[]) {
    if (replicas.length === 0) return;
    await this.db.insertInto("replicas").values(replicas.map(toRow)).execute();
  }

  async listByResource(resourceKey: string) {
    const rows = await this.db
      .selectFrom("replicas")
      .selectAll()
      .where("resource_key", "=", resourceKey)
      .orderBy("region")
      .orderBy("ordinal")
      .execute();
    return rows.map(fromRow);
  }

  async listInRegion(resourceKeys: readonly string[], region: string) {
    if (resourceKeys.length === 0) return [];
    // One version's (a deployment's): the one shape that compiles once.
    if (resourceKeys.length === 1) {
      const rows = await this.queries.execute(this.db, replicasInRegion, {
        resourceKey: resourceKeys[0]!,
        region,
      });
      return rows.map(fromRow);
    }
    const rows = await this.db
      .selectFrom("replicas")
      .selectAll()
      .where("resource_key", "in", resourceKeys)
      .where("region", "=", region)
      .execute();
    return rows.map(fromRow);
  }

  async claim(owner: string, nowMs: number, leaseMs: number) {
    const candidates = await this.db
      .selectFrom("replicas")
      .selectAll()
      .where("state", "in", UNFINISHED)
      .where((eb) =>
        eb.or([eb("lease_expires_at", "is", null), eb("lease_expires_at", "<", nowMs)]),
      )
      .orderBy("updated_at")
      .limit(CLAIM_CANDIDATES)
      .execute();
    for (const row of candidates) {
      const result = await this.db
        .updateTable("replicas")
        .set({ lease_owner: owner, lease_expires_at: nowMs + leaseMs })
        .where("resource_key", "=", row.resource_key)
        .where("region", "=", row.region)
        .where("ordinal", "=", row.ordinal)
        .where("state", "in", UNFINISHED)
        .where((eb) =>
          row.lease_expires_at === null
            ? eb("lease_expires_at", "is", null)
            : eb("lease_expires_at", "=", row.lease_expires_at),
        )
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) {
        return fromRow({ ...row, lease_owner: owner, lease_expires_at: nowMs + leaseMs });
      }
    }
    return undefined;
  }

  async update(replica: ReplicaRecord, owner: string) {
    const row = toRow(replica);
    const result = await this.db
      .updateTable("replicas")
      .set({
        state: row.state,
        progress: row.progress,
        details: row.details,
        attempts: row.attempts,
        lease_owner: row.lease_owner,
        lease_expires_at: row.lease_expires_at,
        updated_at: row.updated_at,
      })
      .where(heldBy(replica, owner))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async holdsLease(replica: ReplicaKey, owner: string) {
    // An update that changes nothing: on PostgreSQL it locks the row until the transaction ends,
    // which a plain select would not.
    const result = await this.db
      .updateTable("replicas")
      .set((eb) => ({ lease_owner: eb.ref("lease_owner") }))
      .where(heldBy(replica, owner))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async delete(resourceKey: string, region?: string, fromOrdinal?: number) {
    let query = this.db.deleteFrom("replicas").where("resource_key", "=", resourceKey);
    if (region !== undefined) query = query.where("region", "=", region);
    if (fromOrdinal !== undefined) query = query.where("ordinal", ">=", fromOrdinal);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteByPrefix(prefix: string) {
    const result = await this.db
      .deleteFrom("replicas")
      .where((eb) => resourceKeyStartsWith(eb, prefix))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
