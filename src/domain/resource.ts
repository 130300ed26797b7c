/**
 * The tracked-resource record every resource kind shares, and the ports through which the domain
 * reads and writes them. `store/` implements the ports; nothing here knows SQL or HTTP.
 */
export interface Actor {
  /** Who acted: the principal's client id (ARM shows the application id for apps). */
  readonly id: string;
  readonly type: "User" | "Application" | "ManagedIdentity" | "Key";
  readonly tenantId: string;
}

export interface SystemData {
  createdBy: string;
  createdByType: string;
  createdAt: string;
  lastModifiedBy: string;
  lastModifiedByType: string;
  lastModifiedAt: string;
}

export interface ResourceRecord {
  /** Lower-cased resource id: ARM ids are case-insensitive, so this is the identity. */
  key: string;
  /** The id as its creator spelled it. */
  id: string;
  subscriptionId: string;
  /** Resource group name as spelled by its creator. */
  resourceGroup: string;
  /** Canonical ARM type, e.g. `Microsoft.Compute/galleries/images`. */
  type: string;
  parentKey: string | null;
  name: string;
  location: string;
  /** `undefined` when the creator sent none: some kinds then omit the `tags` key. */
  tags: Record<string, string> | undefined;
  properties: Record<string, unknown>;
  /** A value that must be unique across the store (e.g. publisher/offer/sku within a gallery). */
  uniqueKey: string | null;
  systemData: SystemData;
}

export interface Page<T> {
  items: T[];
  /** Opaque continuation for the next page, absent on the last one. */
  continuation?: string;
}

export interface PageRequest {
  continuation?: string;
  limit: number;
}

export interface ResourceRepository {
  get(key: string): Promise<ResourceRecord | undefined>;
  findByUniqueKey(uniqueKey: string): Promise<ResourceRecord | undefined>;
  insert(record: ResourceRecord): Promise<void>;
  update(record: ResourceRecord): Promise<void>;
  delete(key: string): Promise<void>;
  /** Removes a resource group and everything in it. */
  deleteResourceGroup(subscriptionId: string, resourceGroup: string): Promise<number>;
  listChildren(parentKey: string, type: string, page: PageRequest): Promise<Page<ResourceRecord>>;
  listBySubscription(
    subscriptionId: string,
    type: string,
    page: PageRequest,
  ): Promise<Page<ResourceRecord>>;
  listByResourceGroup(
    subscriptionId: string,
    resourceGroup: string,
    type: string,
    page: PageRequest,
  ): Promise<Page<ResourceRecord>>;
  /** Type-qualified names (`Microsoft.Compute/galleries/g/images/i`) of up to `limit` direct children. */
  childNames(parentKey: string, limit: number): Promise<string[]>;
  countInRegion(subscriptionId: string, type: string, location: string): Promise<number>;
  /** Counts per type in one region of a subscription (for the usages API). */
  countsInRegion(subscriptionId: string, location: string): Promise<Map<string, number>>;
}

export type OperationStatus = "InProgress" | "Succeeded" | "Failed" | "Canceled";

export interface OperationRecord {
  id: string;
  subscriptionId: string;
  location: string;
  status: OperationStatus;
  startTime: string;
  endTime: string | null;
  error: { code: string; message: string } | null;
  /** The resource the operation wrote, when its poll shows it (a disk's `output`). */
  resourceKey?: string | null;
}

export interface OperationRepository {
  insert(op: OperationRecord): Promise<void>;
  get(id: string): Promise<OperationRecord | undefined>;
  /** Records how a running operation ended (or that it runs on). */
  update(op: OperationRecord): Promise<void>;
}

export interface TenantRecord {
  id: string;
  displayName: string;
}

export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  displayName: string;
  state: "Enabled" | "Disabled" | "Warned" | "PastDue" | "Deleted";
}

export interface PrincipalRecord {
  clientId: string;
  objectId: string;
  tenantId: string;
  displayName: string;
  secretHash: string;
}

export interface IdentityRepository {
  listTenants(): Promise<TenantRecord[]>;
  insertTenant(t: TenantRecord): Promise<void>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(tenantIds: string[]): Promise<SubscriptionRecord[]>;
  insertSubscription(s: SubscriptionRecord): Promise<void>;
  getPrincipal(clientId: string): Promise<PrincipalRecord | undefined>;
  insertPrincipal(p: PrincipalRecord): Promise<void>;
}

/**
 * The content of a disk or snapshot in one storage location: a chunk manifest (kept as JSON here;
 * `blobs/manifest.ts` parses it). Copies share a manifest's chunks, each with its own row.
 */
export interface ManifestRecord {
  /** Key of the resource (disk, snapshot) whose content this is. */
  resourceKey: string;
  /** Storage location id (`eastus-1`, `westus`; a region's name for data from before zones). */
  location: string;
  manifest: unknown;
  /** SHA-256 of the whole content; null until computed (see `Manifest.sha256`). */
  digest: string | null;
  createdAt: string;
}

export interface ManifestRepository {
  get(resourceKey: string, location: string): Promise<ManifestRecord | undefined>;
  /** Inserts or replaces the row of (resourceKey, location). */
  put(record: ManifestRecord): Promise<void>;
  /**
   * Gives every row that points at `manifest` (as read back: its text is the body's) that
   * manifest with `sha256` added, and the digest. A digest is a function of the manifest alone,
   * so a disk, its copies and snapshots and the versions made from them learn it at once.
   * Returns how many rows changed.
   */
  recordDigest(manifest: unknown, sha256: string): Promise<number>;
  /** Removes the row of one location. */
  deleteOne(resourceKey: string, location: string): Promise<void>;
  /** Removes every row of a resource; returns how many. */
  deleteAll(resourceKey: string): Promise<number>;
  /**
   * What garbage collection counts as references at a location, read as one snapshot: the
   * distinct manifests its rows point at (one per content however many resources share it), and
   * those of every version with an unfinished replica job that targets the location — pinned for
   * the job, which may rely on chunks other rows there reference (gc.ts, rule P).
   */
  listReferencedAt(location: string): Promise<unknown[]>;
  /** The distinct manifests of a location's rows whose resource key starts with `keyPrefix`. */
  listManifestsUnder(location: string, keyPrefix: string): Promise<unknown[]>;
  /** Where one content is stored, without reading its manifests. */
  listLocations(resourceKey: string): Promise<string[]>;
  /**
   * Copy-on-write: the manifest of `fromKey` at `location` becomes `toKey`'s there too (replacing
   * any), without the manifest passing through this process.
   */
  copy(fromKey: string, location: string, toKey: string, createdAt: string): Promise<void>;
  /** Every location's manifest of one content (where a replica can copy it from). */
  listByResource(resourceKey: string): Promise<ManifestRecord[]>;
  /** Removes the manifests of every resource whose key starts with `prefix` (a resource group). */
  deleteByPrefix(prefix: string): Promise<number>;
}

export type ReplicaState = "Pending" | "Replicating" | "Completed" | "Failed";

/**
 * One replica of an image or application version in one region, and the durable job that makes
 * it: the row is written in the transaction that creates the version (or adds the region), and a
 * worker claims it with a lease. `locations` are the storage locations its chunks go to (every
 * zone of the region for ZRS, one zone otherwise).
 */
export interface ReplicaRecord {
  resourceKey: string;
  region: string;
  ordinal: number;
  storageAccountType: string;
  locations: string[];
  state: ReplicaState;
  /** 0–100. */
  progress: number;
  details: string | null;
  attempts: number;
  leaseOwner: string | null;
  /** Epoch milliseconds; a lease past this time may be taken over. */
  leaseExpiresAt: number | null;
  updatedAt: string;
}

/** What names one replica. */
export type ReplicaKey = Pick<ReplicaRecord, "resourceKey" | "region" | "ordinal">;

export interface ReplicaRepository {
  insert(replicas: readonly ReplicaRecord[]): Promise<void>;
  listByResource(resourceKey: string): Promise<ReplicaRecord[]>;
  /** The replicas in one region of several resources (to pick `latest`). */
  listInRegion(resourceKeys: readonly string[], region: string): Promise<ReplicaRecord[]>;
  /**
   * Takes the lease of one unfinished replica whose lease is free or expired, oldest first;
   * undefined when there is none. Safe against other workers: the lease is taken by a
   * conditional update, and only one of two racing claims succeeds.
   */
  claim(owner: string, nowMs: number, leaseMs: number): Promise<ReplicaRecord | undefined>;
  /** Writes state, progress, details, attempts and lease, if `owner` still holds the lease. */
  update(replica: ReplicaRecord, owner: string): Promise<boolean>;
  /**
   * Whether `owner` still holds the replica's lease. Inside a transaction the replica then cannot
   * be deleted before it ends (its row is locked where the dialect locks rows; SQLite runs one
   * transaction at a time), so what the job records there is never left behind by a deletion.
   */
  holdsLease(replica: ReplicaKey, owner: string): Promise<boolean>;
  /** Removes replicas of a resource: all, those of one region, or ordinals from `fromOrdinal` on. */
  delete(resourceKey: string, region?: string, fromOrdinal?: number): Promise<number>;
  deleteByPrefix(prefix: string): Promise<number>;
}

/** An operator's grant: `subscriptionId` may deploy in the restricted region `region`. */
export interface RegionAccessRecord {
  /** Region short name (`australiacentral`). */
  region: string;
  /** Lower-case subscription id. */
  subscriptionId: string;
  grantedAt: string;
  /** Client id of the principal that granted it. */
  grantedBy: string;
}

/** Grants of access to restricted regions (Azure's region access request process). */
export interface RegionAccessRepository {
  has(subscriptionId: string, region: string): Promise<boolean>;
  get(subscriptionId: string, region: string): Promise<RegionAccessRecord | undefined>;
  /** Records the grant unless one exists; returns the grant in force and whether it is new. */
  grant(record: RegionAccessRecord): Promise<{ record: RegionAccessRecord; created: boolean }>;
  /** Removes a grant; whether there was one. */
  revoke(subscriptionId: string, region: string): Promise<boolean>;
  /** Grants, optionally of one region and/or one subscription, by region then subscription. */
  list(filter?: { region?: string; subscriptionId?: string }): Promise<RegionAccessRecord[]>;
}

/** The metadata store as the domain sees it. `transaction` gives all-or-nothing writes. */
export interface Store {
  readonly resources: ResourceRepository;
  readonly manifests: ManifestRepository;
  readonly replicas: ReplicaRepository;
  readonly regionAccess: RegionAccessRepository;
  readonly operations: OperationRepository;
  readonly identity: IdentityRepository;
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;
  /**
   * A number that changes whenever committed data may have changed, read synchronously; equal
   * stamps mean nothing was written in between, so an answer computed from data read under a
   * stamp can be reused while the stamp holds. Undefined when the store can't tell (another
   * process may write, as with PostgreSQL; or a transaction is open).
   */
  changeStamp(): number | undefined;
  close(): Promise<void>;
}
