/**
 * The life cycle every kind of gallery version shares (image versions, application versions),
 * around their replicas. One transaction writes the version, the contents it takes from its sources
 * (copy-on-write manifest rows, or URIs to ingest), one replica row per target region × replica —
 * each a durable job that `replication/` claims — and the operation the client polls. The version
 * is `Succeeded` when every replica is `Completed`.
 *
 * A kind plugs in what differs (the hooks below): its rules (names, defaults, what a replace may
 * change), how its sources are checked before anything is written, which contents a new version
 * takes, how stored contents are described in its properties, and whether it may be deleted now.
 */
import { randomUUID } from "node:crypto";
import { idOf, keyOf, type ResourcePath, type ResourceType } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { OperationRecord, ReplicaRecord, ResourceRecord, Store } from "../domain/resource.js";
import {
  ResourceService,
  type KindRules,
  type PatchInput,
  type Properties,
  type WriteContext,
  type WriteInput,
} from "../domain/resource-service.js";
import { ValidationError } from "../domain/errors.js";
import {
  contentKeyOf,
  plannedReplicas,
  versionContentsOf,
  type PublishingProfile,
  type VersionContent,
  type VersionState,
} from "./versions.js";

/** Where replicas live: the storage locations of a replica, and the region of a location. */
export interface ReplicaPlacement {
  /** Storage location ids of replica `ordinal`; throws a ValidationError naming `target`. */
  place(region: string, ordinal: number, storageAccountType: string, target: string): string[];
  regionOf(location: string): string;
}

export type AggregatedState = "Unknown" | "InProgress" | "Completed" | "Failed";

export interface ReplicationStatus {
  aggregatedState: AggregatedState;
  summary: { region: string; state: string; details: string; progress: number }[];
}

/** What the wire needs to answer a write: the record, 201 or 200, and the operation to poll. */
export interface VersionWrite {
  record: ResourceRecord;
  created: boolean;
  operation: OperationRecord;
}

export abstract class VersionService {
  constructor(
    protected readonly store: Store,
    protected readonly regions: RegionCatalog,
    protected readonly placement: ReplicaPlacement,
    readonly rules: KindRules,
    /** Called after a write that queued replication work commits. */
    private readonly onQueued: () => void = () => {},
  ) {}

  /** Checks a new version's sources that are read through a URI, before anything is written. */
  protected abstract checkSources(properties: Properties): Promise<void>;

  /**
   * The contents of a version just created, from its sources: copy-on-write manifest rows written
   * in `tx` for stored sources, URIs for the first replica to ingest.
   */
  protected abstract takeSources(tx: Store, record: ResourceRecord): Promise<VersionContent[]>;

  /** Fills in what is known once every content is stored (sizes, digests) and `_contents`. */
  protected abstract describeContent(tx: Store, version: ResourceRecord): Promise<void>;

  /** Throws when `existing` may not be deleted at `now`. */
  protected checkDelete(_existing: ResourceRecord, _now: Date): void {}

  get type(): ResourceType {
    return this.rules.type;
  }

  protected service(store: Store) {
    return new ResourceService(store, this.rules, this.regions);
  }

  async put(path: ResourcePath, input: WriteInput, ctx: WriteContext): Promise<VersionWrite> {
    // The name first (a path parameter, no I/O); then a source read through a URI is checked
    // before anything is written, so a bad one leaves no trace.
    this.rules.checkName(path.names.at(-1)!);
    if (!(await this.store.resources.get(keyOf(idOf(this.rules.type, path))))) {
      await this.checkSources(input.properties);
    }
    const result = await this.store.transaction(async (tx) => {
      const { record, created } = await this.service(tx).put(path, input, ctx);
      if (created) record.properties._contents = await this.takeSources(tx, record);
      const operation = await this.plan(tx, record, created, ctx);
      return { record, created, operation };
    });
    this.onQueued();
    return result;
  }

  async patch(path: ResourcePath, input: PatchInput, ctx: WriteContext): Promise<VersionWrite> {
    const result = await this.store.transaction(async (tx) => {
      const record = await this.service(tx).patch(path, input, ctx);
      const operation = await this.plan(tx, record, false, ctx);
      return { record, created: false, operation };
    });
    this.onQueued();
    return result;
  }

  get(path: ResourcePath) {
    return this.service(this.store).get(path);
  }

  list(parentPath: ResourcePath, page: { continuation?: string; limit: number }) {
    return this.service(this.store).list(parentPath, page);
  }

  notFound(path: ResourcePath) {
    return this.service(this.store).notFound(path);
  }

  /** DELETE: the version, its replicas (their jobs stop) and its content rows; GC reclaims chunks. */
  async delete(path: ResourcePath, now: Date) {
    return this.store.transaction(async (tx) => {
      const existing = await tx.resources.get(keyOf(idOf(this.rules.type, path)));
      if (existing) {
        this.checkDelete(existing, now);
        // Replicas first: a job recording its content holds its replica's row until it commits
        // (ReplicaRepository.holdsLease), so the rows deleted next include what it recorded.
        await tx.replicas.delete(existing.key);
        for (const c of versionContentsOf(existing.properties)) {
          await tx.manifests.deleteAll(contentKeyOf(existing.key, c.disk));
        }
        await this.finishOperations(tx, existing, "Canceled");
      }
      return this.service(tx).delete(path);
    });
  }

  /** Per-region state for `$expand=ReplicationStatus`. */
  async replicationStatus(record: ResourceRecord): Promise<ReplicationStatus> {
    const replicas = await this.store.replicas.listByResource(record.key);
    const profile = record.properties.publishingProfile as PublishingProfile;
    const summary = profile.targetRegions.map((t) => {
      const region = this.regions.find(t.name)!.name;
      const mine = replicas.filter((r) => r.region === region);
      const failed = mine.find((r) => r.state === "Failed");
      const done = mine.length > 0 && mine.every((r) => r.state === "Completed");
      const progress = mine.length
        ? Math.floor(mine.reduce((sum, r) => sum + r.progress, 0) / mine.length)
        : 0;
      return {
        region: t.name,
        state: failed ? "Failed" : done ? "Completed" : "Replicating",
        details: failed?.details ?? "",
        progress: done ? 100 : progress,
      };
    });
    const aggregatedState: AggregatedState = summary.some((s) => s.state === "Failed")
      ? "Failed"
      : summary.every((s) => s.state === "Completed")
        ? "Completed"
        : "InProgress";
    return { aggregatedState, summary };
  }

  /**
   * Brings the replica rows in line with the publishing profile (new regions and replicas queued,
   * removed ones dropped) and starts the operation the client polls.
   */
  private async plan(
    tx: Store,
    record: ResourceRecord,
    created: boolean,
    ctx: WriteContext,
  ): Promise<OperationRecord> {
    const profile = record.properties.publishingProfile as PublishingProfile;
    const planned = plannedReplicas(profile, this.regions);
    const shallow = profile.replicationMode === "Shallow";
    if (shallow && (planned.length !== 1 || planned[0]!.count !== 1)) {
      throw new ValidationError(
        "InvalidParameter",
        "replicationMode Shallow keeps one reference to the source in the version's own region: give exactly that one target region with one replica.",
        "properties.publishingProfile.replicationMode",
      );
    }
    const existing = await tx.replicas.listByResource(record.key);
    const now = ctx.now.toISOString();
    const fresh: ReplicaRecord[] = [];
    for (const [i, want] of planned.entries()) {
      const have = existing.filter((r) => r.region === want.region);
      if (have.length === 0) {
        // A restricted region takes a version only once an operator allowed the subscription.
        await this.regions.requireAccess(tx.regionAccess, record.subscriptionId, want.region, {
          target: `properties.publishingProfile.targetRegions[${i}].name`,
          resourceType: this.rules.type,
        });
      }
      if (have.length > want.count) await tx.replicas.delete(record.key, want.region, want.count);
      for (let ordinal = have.length; ordinal < want.count; ordinal++) {
        const target = `properties.publishingProfile.targetRegions[${i}].storageAccountType`;
        fresh.push({
          resourceKey: record.key,
          region: want.region,
          ordinal,
          storageAccountType: want.storageAccountType,
          locations: shallow
            ? await this.sourceLocations(
                tx,
                record,
                want.region,
                ordinal,
                want.storageAccountType,
                target,
              )
            : this.placement.place(want.region, ordinal, want.storageAccountType, target),
          state: "Pending",
          progress: 0,
          details: null,
          attempts: 0,
          leaseOwner: null,
          leaseExpiresAt: null,
          updatedAt: now,
        });
      }
    }
    const regions = new Set(planned.map((p) => p.region));
    for (const gone of new Set(existing.map((r) => r.region))) {
      if (!regions.has(gone)) await tx.replicas.delete(record.key, gone);
    }
    await tx.replicas.insert(fresh);
    const all = await tx.replicas.listByResource(record.key);
    const pending = all.some((r) => r.state !== "Completed");
    const operation: OperationRecord = {
      id: randomUUID(),
      subscriptionId: record.subscriptionId,
      location: record.location,
      status: pending ? "InProgress" : "Succeeded",
      startTime: now,
      endTime: pending ? null : now,
      error: null,
    };
    await tx.operations.insert(operation);
    const state: VersionState = pending ? (created ? "Creating" : "Updating") : "Succeeded";
    record.properties._state = state;
    record.properties._operations = pending
      ? [...((record.properties._operations as string[] | undefined) ?? []), operation.id]
      : [];
    if (!pending) await this.pruneContent(tx, record, all);
    await tx.resources.update(record);
    return operation;
  }

  /** Shallow replication references the source where it is: its locations in the home region. */
  private async sourceLocations(
    tx: Store,
    record: ResourceRecord,
    region: string,
    ordinal: number,
    storageAccountType: string,
    target: string,
  ) {
    const here = new Set<string>();
    for (const c of versionContentsOf(record.properties)) {
      for (const location of await tx.manifests.listLocations(contentKeyOf(record.key, c.disk))) {
        if (this.placement.regionOf(location) === region) here.add(location);
      }
    }
    const [first] = here;
    return first ? [first] : this.placement.place(region, ordinal, storageAccountType, target);
  }

  /**
   * Once every replica is complete, the content rows a version took from its source where it has
   * no replica are dropped: the version no longer pins its source's chunks there.
   */
  async pruneContent(tx: Store, record: ResourceRecord, replicas: readonly ReplicaRecord[]) {
    const used = new Set(replicas.flatMap((r) => r.locations));
    for (const c of versionContentsOf(record.properties)) {
      const key = contentKeyOf(record.key, c.disk);
      // The locations only: the manifests themselves (a hash per chunk) are not needed here.
      const locations = await tx.manifests.listLocations(key);
      // Never drop the last copy, whatever the replicas say.
      if (!locations.some((location) => used.has(location))) continue;
      for (const location of locations) {
        if (!used.has(location)) await tx.manifests.deleteOne(key, location);
      }
    }
  }

  /**
   * Records that a replica is complete (if `owner` still holds its job). When it was the last,
   * the version succeeds: sizes and digests are filled in, content rows outside its replicas are
   * dropped and every operation a client polls ends.
   */
  async replicaCompleted(job: ReplicaRecord, owner: string): Promise<boolean> {
    return this.store.transaction(async (tx) => {
      const now = new Date().toISOString();
      const done: ReplicaRecord = {
        ...job,
        state: "Completed",
        progress: 100,
        details: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        updatedAt: now,
      };
      if (!(await tx.replicas.update(done, owner))) return false;
      const version = await tx.resources.get(job.resourceKey);
      if (!version) return false;
      const all = await tx.replicas.listByResource(version.key);
      if (all.some((r) => r.state !== "Completed")) return true;
      await this.describeContent(tx, version);
      version.properties._state = "Succeeded";
      await this.pruneContent(tx, version, all);
      await this.finishOperations(tx, version, "Succeeded");
      await tx.resources.update(version);
      return true;
    });
  }

  /** A replica failed for good: the version fails and its operations end with the error. */
  async replicaFailed(job: ReplicaRecord, error: { code: string; message: string }) {
    await this.store.transaction(async (tx) => {
      const version = await tx.resources.get(job.resourceKey);
      if (!version) return;
      version.properties._state = "Failed";
      await this.finishOperations(tx, version, "Failed", error);
      await tx.resources.update(version);
    });
  }

  /** Ends every operation a client may be polling on this version. */
  async finishOperations(
    tx: Store,
    record: ResourceRecord,
    status: OperationRecord["status"],
    error: OperationRecord["error"] = null,
  ) {
    const now = new Date().toISOString();
    for (const id of (record.properties._operations as string[] | undefined) ?? []) {
      const op = await tx.operations.get(id);
      if (op && op.status === "InProgress") {
        await tx.operations.update({ ...op, status, endTime: now, error });
      }
    }
    record.properties._operations = [];
  }
}
