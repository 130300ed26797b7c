/**
 * The metadata store over Kysely. The same code serves every dialect: repos never branch on it.
 * Resource keys are lower-cased ARM ids, so ordering by key gives stable, resumable paging.
 */
import type { Database as SqliteDatabase } from "better-sqlite3";
import type { Kysely, Selectable, Transaction } from "kysely";
import type {
  IdentityRepository,
  ManifestRepository,
  OperationRecord,
  OperationRepository,
  Page,
  PageRequest,
  PrincipalRecord,
  ReplicaRepository,
  RegionAccessRecord,
  RegionAccessRepository,
  ResourceRecord,
  ResourceRepository,
  Store,
  SubscriptionRecord,
  TenantRecord,
} from "../domain/resource.js";
import { CompiledQueries } from "./compiled-queries.js";
import { GroupCommit } from "./group-commit.js";
import type { Database, OperationsTable, ResourcesTable } from "./schema.js";
import { SqlManifestRepository } from "./sql-manifests.js";
import { SqlReplicaRepository } from "./sql-replicas.js";
import type { ResourceRow, SqliteReads } from "./sqlite-reads.js";

type Db = Kysely<Database> | Transaction<Database>;

function toRow(r: ResourceRecord): ResourcesTable {
  return {
    key: r.key,
    id: r.id,
    subscription_id: r.subscriptionId,
    resource_group: r.resourceGroup,
    resource_group_key: r.resourceGroup.toLowerCase(),
    type: r.type,
    type_key: r.type.toLowerCase(),
    parent_key: r.parentKey,
    name: r.name,
    location: r.location,
    tags: r.tags === undefined ? null : JSON.stringify(r.tags),
    properties: JSON.stringify(r.properties),
    unique_key: r.uniqueKey,
    system_data: JSON.stringify(r.systemData),
  };
}

function fromRow(row: ResourceRow): ResourceRecord {
  return {
    key: row.key,
    id: row.id,
    subscriptionId: row.subscription_id,
    resourceGroup: row.resource_group,
    type: row.type,
    parentKey: row.parent_key,
    name: row.name,
    location: row.location,
    tags: row.tags === null ? undefined : JSON.parse(row.tags),
    properties: JSON.parse(row.properties),
    uniqueKey: row.unique_key,
    systemData: JSON.parse(row.system_data),
  };
}

const encodeContinuation = (key: string) => Buffer.from(key, "utf8").toString("base64url");
const decodeContinuation = (token: string | undefined) =>
  token ? Buffer.from(token, "base64url").toString("utf8") : "";

const resourceByKey = (db: Db, a: { key: string }) =>
  db.selectFrom("resources").selectAll().where("key", "=", a.key);

const insertResource = (db: Db, row: ResourcesTable) => db.insertInto("resources").values(row);

class SqlResourceRepository implements ResourceRepository {
  /**
   * `ownTransaction`: `db` is a transaction of ours, which holds the one connection until it ends,
   * so a direct read sees exactly what a read through it would (its own writes included).
   */
  constructor(
    private readonly db: Db,
    private readonly queries: CompiledQueries,
    private readonly direct?: SqliteReads,
    private readonly ownTransaction = false,
  ) {}

  async get(key: string) {
    if (this.direct && (this.ownTransaction || this.direct.usable)) {
      const row = this.direct.resource(key);
      return row && fromRow(row);
    }
    const [row] = await this.queries.execute(this.db, resourceByKey, { key });
    return row && fromRow(row);
  }

  async findByUniqueKey(uniqueKey: string) {
    const row = await this.db
      .selectFrom("resources")
      .selectAll()
      .where("unique_key", "=", uniqueKey)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async insert(record: ResourceRecord) {
    await this.queries.execute(this.db, insertResource, toRow(record));
  }

  async update(record: ResourceRecord) {
    const { key, ...rest } = toRow(record);
    await this.db.updateTable("resources").set(rest).where("key", "=", key).execute();
  }

  async delete(key: string) {
    await this.db.deleteFrom("resources").where("key", "=", key).execute();
  }

  async deleteResourceGroup(subscriptionId: string, resourceGroup: string) {
    const result = await this.db
      .deleteFrom("resources")
      .where("subscription_id", "=", subscriptionId)
      .where("resource_group_key", "=", resourceGroup.toLowerCase())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  private async page(
    query: ReturnType<SqlResourceRepository["base"]>,
    page: PageRequest,
  ): Promise<Page<ResourceRecord>> {
    const rows = await query
      .where("key", ">", decodeContinuation(page.continuation))
      .orderBy("key")
      .limit(page.limit + 1)
      .execute();
    const items = rows.slice(0, page.limit).map(fromRow);
    const last = items.at(-1);
    return rows.length > page.limit && last
      ? { items, continuation: encodeContinuation(last.key) }
      : { items };
  }

  private base() {
    return this.db.selectFrom("resources").selectAll();
  }

  listChildren(parentKey: string, type: string, page: PageRequest) {
    return this.page(
      this.base().where("parent_key", "=", parentKey).where("type_key", "=", type.toLowerCase()),
      page,
    );
  }

  listBySubscription(subscriptionId: string, type: string, page: PageRequest) {
    return this.page(
      this.base()
        .where("subscription_id", "=", subscriptionId)
        .where("type_key", "=", type.toLowerCase()),
      page,
    );
  }

  listByResourceGroup(
    subscriptionId: string,
    resourceGroup: string,
    type: string,
    page: PageRequest,
  ) {
    return this.page(
      this.base()
        .where("subscription_id", "=", subscriptionId)
        .where("resource_group_key", "=", resourceGroup.toLowerCase())
        .where("type_key", "=", type.toLowerCase()),
      page,
    );
  }

  async childNames(parentKey: string, limit: number) {
    const rows = await this.db
      .selectFrom("resources")
      .select(["id", "type"])
      .where("parent_key", "=", parentKey)
      .orderBy("key")
      .limit(limit)
      .execute();
    // ARM names nested resources from the provider on: Microsoft.Compute/galleries/g/images/i
    return rows.map((r) =>
      r.id.slice(r.id.toLowerCase().indexOf("/providers/") + "/providers/".length),
    );
  }

  async countInRegion(subscriptionId: string, type: string, location: string) {
    const row = await this.db
      .selectFrom("resources")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("subscription_id", "=", subscriptionId)
      .where("location", "=", location)
      .where("type_key", "=", type.toLowerCase())
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countsInRegion(subscriptionId: string, location: string) {
    const rows = await this.db
      .selectFrom("resources")
      .select((eb) => ["type_key", eb.fn.countAll<number | string>().as("n")])
      .where("subscription_id", "=", subscriptionId)
      .where("location", "=", location)
      .groupBy("type_key")
      .execute();
    return new Map(rows.map((r) => [r.type_key, Number(r.n)]));
  }
}

const insertOperation = (db: Db, row: OperationsTable) => db.insertInto("operations").values(row);

class SqlOperationRepository implements OperationRepository {
  constructor(
    private readonly db: Db,
    private readonly queries: CompiledQueries,
  ) {}

  async insert(op: OperationRecord) {
    await this.queries.execute(this.db, insertOperation, {
      id: op.id,
      subscription_id: op.subscriptionId,
      location: op.location,
      status: op.status,
      start_time: op.startTime,
      end_time: op.endTime,
      error: op.error && JSON.stringify(op.error),
      resource_key: op.resourceKey ?? null,
    });
  }

  async update(op: OperationRecord) {
    await this.db
      .updateTable("operations")
      .set({
        status: op.status,
        end_time: op.endTime,
        error: op.error && JSON.stringify(op.error),
      })
      .where("id", "=", op.id)
      .execute();
  }

  async get(id: string): Promise<OperationRecord | undefined> {
    const row = await this.db
      .selectFrom("operations")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    return (
      row && {
        id: row.id,
        subscriptionId: row.subscription_id,
        location: row.location,
        status: row.status as OperationRecord["status"],
        startTime: row.start_time,
        endTime: row.end_time,
        error: row.error === null ? null : JSON.parse(row.error),
        resourceKey: row.resource_key,
      }
    );
  }
}

class SqlIdentityRepository implements IdentityRepository {
  constructor(private readonly db: Db) {}

  async listTenants(): Promise<TenantRecord[]> {
    const rows = await this.db.selectFrom("tenants").selectAll().orderBy("id").execute();
    return rows.map((r) => ({ id: r.id, displayName: r.display_name }));
  }

  async insertTenant(t: TenantRecord) {
    await this.db.insertInto("tenants").values({ id: t.id, display_name: t.displayName }).execute();
  }

  async getSubscription(id: string) {
    const row = await this.db
      .selectFrom("subscriptions")
      .selectAll()
      .where("id", "=", id.toLowerCase())
      .executeTakeFirst();
    return row && toSubscription(row);
  }

  async listSubscriptions(tenantIds: string[]) {
    if (tenantIds.length === 0) return [];
    const rows = await this.db
      .selectFrom("subscriptions")
      .selectAll()
      .where("tenant_id", "in", tenantIds)
      .orderBy("id")
      .execute();
    return rows.map(toSubscription);
  }

  async insertSubscription(s: SubscriptionRecord) {
    await this.db
      .insertInto("subscriptions")
      .values({ id: s.id, tenant_id: s.tenantId, display_name: s.displayName, state: s.state })
      .execute();
  }

  async getPrincipal(clientId: string): Promise<PrincipalRecord | undefined> {
    const row = await this.db
      .selectFrom("principals")
      .selectAll()
      .where("client_id", "=", clientId.toLowerCase())
      .executeTakeFirst();
    return (
      row && {
        clientId: row.client_id,
        objectId: row.object_id,
        tenantId: row.tenant_id,
        displayName: row.display_name,
        secretHash: row.secret_hash,
      }
    );
  }

  async insertPrincipal(p: PrincipalRecord) {
    await this.db
      .insertInto("principals")
      .values({
        client_id: p.clientId,
        object_id: p.objectId,
        tenant_id: p.tenantId,
        display_name: p.displayName,
        secret_hash: p.secretHash,
      })
      .execute();
  }
}

class SqlRegionAccessRepository implements RegionAccessRepository {
  constructor(private readonly db: Db) {}

  async has(subscriptionId: string, region: string) {
    return (await this.get(subscriptionId, region)) !== undefined;
  }

  async get(subscriptionId: string, region: string) {
    const row = await this.db
      .selectFrom("region_access")
      .selectAll()
      .where("region", "=", region)
      .where("subscription_id", "=", subscriptionId.toLowerCase())
      .executeTakeFirst();
    return row && toRegionAccess(row);
  }

  async grant(r: RegionAccessRecord) {
    const result = await this.db
      .insertInto("region_access")
      .values({
        region: r.region,
        subscription_id: r.subscriptionId.toLowerCase(),
        granted_at: r.grantedAt,
        granted_by: r.grantedBy,
      })
      .onConflict((oc) => oc.columns(["region", "subscription_id"]).doNothing())
      .executeTakeFirst();
    const created = Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    const record = await this.get(r.subscriptionId, r.region);
    return { record: record!, created };
  }

  async revoke(subscriptionId: string, region: string) {
    const result = await this.db
      .deleteFrom("region_access")
      .where("region", "=", region)
      .where("subscription_id", "=", subscriptionId.toLowerCase())
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async list(filter: { region?: string; subscriptionId?: string } = {}) {
    let query = this.db.selectFrom("region_access").selectAll();
    if (filter.region !== undefined) query = query.where("region", "=", filter.region);
    if (filter.subscriptionId !== undefined)
      query = query.where("subscription_id", "=", filter.subscriptionId.toLowerCase());
    const rows = await query.orderBy("region").orderBy("subscription_id").execute();
    return rows.map(toRegionAccess);
  }
}

function toRegionAccess(row: Selectable<Database["region_access"]>): RegionAccessRecord {
  return {
    region: row.region,
    subscriptionId: row.subscription_id,
    grantedAt: row.granted_at,
    grantedBy: row.granted_by,
  };
}

function toSubscription(row: Selectable<Database["subscriptions"]>): SubscriptionRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    displayName: row.display_name,
    state: row.state as SubscriptionRecord["state"],
  };
}

export class SqlStore implements Store {
  readonly resources: ResourceRepository;
  readonly manifests: ManifestRepository;
  readonly replicas: ReplicaRepository;
  readonly regionAccess: RegionAccessRepository;
  readonly operations: OperationRepository;
  readonly identity: IdentityRepository;

  private readonly inTransaction: boolean;
  private readonly direct?: SqliteReads;
  private readonly queries: CompiledQueries;
  private readonly group?: GroupCommit<Store>;

  /**
   * `direct`: SQLite's reads outside Kysely (see sqlite-reads.ts): outside transactions while none
   * is open, and inside ours, which hold the connection. `sqlite`: the embedded database's one
   * connection, whose transactions then commit in groups (group-commit.ts). A transaction's store
   * shares its root's `queries`.
   */
  constructor(
    private readonly db: Db,
    options: {
      inTransaction?: boolean;
      direct?: SqliteReads;
      sqlite?: SqliteDatabase;
      queries?: CompiledQueries;
    } = {},
  ) {
    const { inTransaction = false, direct, sqlite, queries = new CompiledQueries() } = options;
    this.inTransaction = inTransaction;
    this.direct = direct;
    this.queries = queries;
    this.resources = new SqlResourceRepository(db, queries, direct, inTransaction);
    this.manifests = new SqlManifestRepository(db, queries);
    this.replicas = new SqlReplicaRepository(db, queries);
    this.regionAccess = new SqlRegionAccessRepository(db);
    this.operations = new SqlOperationRepository(db, queries);
    this.identity = new SqlIdentityRepository(db);
    if (sqlite && !inTransaction) {
      this.group = new GroupCommit<Store>(db as Kysely<Database>, sqlite, (trx) =>
        this.transactionStore(trx),
      );
    }
  }

  private transactionStore(trx: Transaction<Database>): Store {
    return new SqlStore(trx, { inTransaction: true, direct: this.direct, queries: this.queries });
  }

  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return work(this);
    if (this.group) return this.group.run(work);
    return (this.db as Kysely<Database>)
      .transaction()
      .execute((trx) => work(this.transactionStore(trx)));
  }

  changeStamp(): number | undefined {
    return this.inTransaction ? undefined : this.direct?.changeStamp();
  }

  async close() {
    if (!this.inTransaction) await (this.db as Kysely<Database>).destroy();
  }
}
