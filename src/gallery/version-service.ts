/**
 * The life cycle of image versions around their replicas. One transaction writes the version, the
 * copy-on-write content it takes from its source (manifest rows, no bytes), one replica row per
 * target region × replica — each a durable job that `replication/` claims — and the operation the
 * client polls. The version is `Succeeded` when every replica is `Completed`; a region is usable
 * (for `latest` and deployments) as soon as its own replicas are.
 */
import { randomUUID } from "node:crypto";
import { ConflictError, NotFoundError, ValidationError } from "../domain/errors.js";
import { idOf, keyOf, parentIdOf, TYPES, type ResourcePath } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type {
  ManifestRecord,
  OperationRecord,
  ReplicaRecord,
  ResourceRecord,
  Store,
} from "../domain/resource.js";
import {
  ResourceService,
  type KindRules,
  type PatchInput,
  type Properties,
  type WriteContext,
  type WriteInput,
} from "../domain/resource-service.js";
import {
  compareVersionNames,
  contentKeyOf,
  excludedFromLatest,
  imageVersionRules,
  MAX_SOURCE_BYTES,
  plannedReplicas,
  versionContentsOf,
  versionStateOf,
  type DiskImage,
  type PublishingProfile,
  type StorageProfile,
  type VersionContent,
  type VersionState,
} from "./image-versions.js";

/** Where replicas live: the storage locations of a replica, and the region of a location. */
export interface ReplicaPlacement {
  /** Storage location ids of replica `ordinal`; throws a ValidationError naming `target`. */
  place(region: string, ordinal: number, storageAccountType: string, target: string): string[];
  regionOf(location: string): string;
}

/** Checks a VHD given by URI before a version takes it (exists, readable, a fixed VHD). */
export type UriSourceCheck = (
  uri: string,
  storageAccountId: string,
  target: string,
) => Promise<void>;

export type AggregatedState = "Unknown" | "InProgress" | "Completed" | "Failed";

export interface ReplicationStatus {
  aggregatedState: AggregatedState;
  summary: { region: string; state: string; details: string; progress: number }[];
}

/** A version that can be deployed in a region, and where its disk's content is stored there. */
export interface DeployableImage {
  version: ResourceRecord;
  definition: ResourceRecord;
  /** Key of the content (one disk of the version) the new disk reads. */
  contentKey: string;
  /** The content's manifest row at a location of a complete replica in the region. */
  manifest: ManifestRecord;
}

/** What the wire needs to answer a write: the record, 201 or 200, and the operation to poll. */
export interface VersionWrite {
  record: ResourceRecord;
  created: boolean;
  operation: OperationRecord;
}

const MAX_LIST = 1000;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** The version of our Trusted Launch check, as `executedValidations[].version` reports it. */
const TRUSTED_LAUNCH_CHECK_VERSION = "1.0.0";

export interface TrustedLaunchOutcome {
  status: "Succeeded" | "Failed";
  executionTime: Date;
  /** What the first failed check found. */
  detail?: string;
}

/** Source kinds Azure accepts for an image version that this server does not host. */
const UNHOSTED_SOURCES: [RegExp, string][] = [
  [
    /\/providers\/Microsoft\.Compute\/images\/[^/]+$/i,
    "a managed image (Microsoft.Compute/images)",
  ],
  [
    /\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+$/i,
    "a virtual machine (Microsoft.Compute/virtualMachines)",
  ],
  [/\/communityGalleries\//i, "a community gallery image"],
  [/\/sharedGalleries\//i, "a shared gallery image"],
];

function unhostedSourceKind(id: string): string | undefined {
  return UNHOSTED_SOURCES.find(([re]) => re.test(id))?.[1];
}

/** Whole GiB of a stored disk: its content is a fixed VHD, the disk plus a 512-byte footer. */
const sizeInGbOf = (contentBytes: number) =>
  Math.ceil((Math.floor(contentBytes / MiB) * MiB) / GiB);

export class ImageVersionService {
  readonly rules: KindRules;

  constructor(
    private readonly store: Store,
    private readonly regions: RegionCatalog,
    private readonly placement: ReplicaPlacement,
    limit: number,
    /** Called after a write that queued replication work commits. */
    private readonly onQueued: () => void = () => {},
    private readonly checkUri?: UriSourceCheck,
  ) {
    this.rules = imageVersionRules(regions, limit);
  }

  private service(store: Store) {
    return new ResourceService(store, this.rules, this.regions);
  }

  async put(path: ResourcePath, input: WriteInput, ctx: WriteContext): Promise<VersionWrite> {
    // A VHD source is checked before anything is written, so a bad one leaves no trace.
    if (!(await this.store.resources.get(keyOf(idOf(TYPES.imageVersion, path))))) {
      await this.checkUriSources(input.properties.storageProfile as StorageProfile | undefined);
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

  private async checkUriSources(sp: StorageProfile | undefined) {
    const disks: [DiskImage | undefined, string][] = [
      [sp?.osDiskImage, "properties.storageProfile.osDiskImage.source"],
      ...(sp?.dataDiskImages ?? []).map(
        (d, i) =>
          [d, `properties.storageProfile.dataDiskImages[${i}].source`] as [DiskImage, string],
      ),
    ];
    for (const [disk, target] of disks) {
      const source = disk?.source;
      if (source?.uri === undefined || source.storageAccountId === undefined) continue;
      if (!this.checkUri) {
        throw new ValidationError(
          "InvalidParameter",
          "VHD sources are not read by this server.",
          `${target}.uri`,
        );
      }
      await this.checkUri(source.uri, source.storageAccountId, `${target}.uri`);
    }
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
      const existing = await tx.resources.get(keyOf(idOf(TYPES.imageVersion, path)));
      if (existing) {
        const profile = existing.properties.publishingProfile as PublishingProfile;
        const safety = existing.properties.safetyProfile as Properties;
        if (
          safety?.blockDeletionBeforeEndOfLife === true &&
          profile.endOfLifeDate &&
          Date.parse(profile.endOfLifeDate) > now.getTime()
        ) {
          throw new ConflictError(
            "OperationNotAllowed",
            `The image version '${existing.name}' cannot be deleted before its end of life date '${profile.endOfLifeDate}' because safetyProfile.blockDeletionBeforeEndOfLife is true. Set it to false to delete the version now.`,
            "properties.safetyProfile.blockDeletionBeforeEndOfLife",
          );
        }
        for (const c of versionContentsOf(existing.properties)) {
          await tx.manifests.deleteAll(contentKeyOf(existing.key, c.disk));
        }
        await tx.replicas.delete(existing.key);
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
   * `latest` of a definition in a region: the highest Major.Minor.Patch that is not excluded
   * there and whose replicas in that region are all complete — never one that isn't deployable.
   */
  async latest(
    definitionKey: string,
    region: string,
    store: Store = this.store,
  ): Promise<ResourceRecord | undefined> {
    const versions: ResourceRecord[] = [];
    let continuation: string | undefined;
    do {
      const page = await store.resources.listChildren(definitionKey, TYPES.imageVersion, {
        continuation,
        limit: MAX_LIST,
      });
      versions.push(...page.items);
      continuation = page.continuation;
    } while (continuation);
    const candidates = versions.filter(
      (v) =>
        !excludedFromLatest(
          v.properties.publishingProfile as PublishingProfile,
          region,
          this.regions,
        ),
    );
    const replicas = await store.replicas.listInRegion(
      candidates.map((v) => v.key),
      region,
    );
    const ready = candidates.filter((v) => {
      const mine = replicas.filter((r) => r.resourceKey === v.key);
      return mine.length > 0 && mine.every((r) => r.state === "Completed");
    });
    ready.sort((a, b) => compareVersionNames(b.name, a.name));
    return ready[0];
  }

  /** The completed replicas of a version in a region (what a deployment may read from). */
  async completedReplicas(
    versionKey: string,
    region: string,
    store: Store = this.store,
  ): Promise<ReplicaRecord[]> {
    const replicas = await store.replicas.listInRegion([versionKey], region);
    return replicas.filter((r) => r.state === "Completed");
  }

  /**
   * The image a disk in `region` is created from: `id` names a version, or a definition meaning
   * its `latest` there. Refused, as Azure refuses it, unless the region's replicas are complete.
   */
  async deployable(
    store: Store,
    id: string,
    region: string,
    lun: number | undefined,
    target: string,
    preferLocation?: string,
  ): Promise<DeployableImage> {
    const named = await store.resources.get(keyOf(id));
    const notAvailable = () =>
      new NotFoundError(
        "GalleryImageNotFound",
        `The gallery image ${id} is not available in ${region} region. Please contact image owner to replicate to this region, or change your requested region.`,
        target,
      );
    if (!named || (named.type !== TYPES.image && named.type !== TYPES.imageVersion)) {
      throw new NotFoundError(
        "NotFound",
        `The gallery image '${id}' was not found: give the id of a gallery image version, or of an image definition to use its latest version.`,
        target,
      );
    }
    const version =
      named.type === TYPES.image ? await this.latest(named.key, region, store) : named;
    if (!version) throw notAvailable();
    const inRegion = await store.replicas.listInRegion([version.key], region);
    if (inRegion.length === 0 || inRegion.some((r) => r.state !== "Completed")) {
      throw notAvailable();
    }
    const disk = lun === undefined ? "os" : `lun:${lun}`;
    if (!versionContentsOf(version.properties).some((c) => c.disk === disk)) {
      throw new ValidationError(
        "InvalidParameter",
        lun === undefined
          ? `The gallery image version '${version.id}' has no OS disk image.`
          : `The gallery image version '${version.id}' has no data disk image with lun ${lun}.`,
        target,
      );
    }
    const contentKey = contentKeyOf(version.key, disk);
    const locations = new Set(inRegion.flatMap((r) => r.locations));
    const rows = await store.manifests.listByResource(contentKey);
    const manifest =
      rows.find((r) => r.location === preferLocation && locations.has(r.location)) ??
      rows.find((r) => locations.has(r.location));
    if (!manifest) throw notAvailable();
    const definition = (await store.resources.get(version.parentKey!))!;
    return { version, definition, contentKey, manifest };
  }

  /**
   * Takes each disk's content from its source as copy-on-write manifest rows at the locations
   * where the source's content is stored: no bytes move until a replica elsewhere needs them.
   */
  private async takeSources(tx: Store, record: ResourceRecord): Promise<VersionContent[]> {
    const sp = record.properties.storageProfile as StorageProfile;
    const mode = ((record.properties.publishingProfile as PublishingProfile).replicationMode ??
      "Full") as "Full" | "Shallow";
    const contents: VersionContent[] = [];
    if (sp.source?.id) {
      const target = "properties.storageProfile.source.id";
      const source = await this.sourceRecord(tx, sp.source.id, target);
      if (source.type !== TYPES.imageVersion) {
        throw new ValidationError(
          "InvalidParameter",
          `The source '${sp.source.id}' is not supported here: storageProfile.source.id takes a gallery image version. Give a disk or snapshot as osDiskImage.source.id (virtual machines and managed images are not hosted by this server).`,
          target,
        );
      }
      if (versionStateOf(source.properties) !== "Succeeded") {
        throw new ConflictError(
          "OperationNotAllowed",
          `The source image version '${source.id}' is not ready (provisioningState ${versionStateOf(source.properties)}); wait until it has Succeeded.`,
          target,
        );
      }
      for (const c of versionContentsOf(source.properties)) {
        contents.push(
          await this.shareContent(
            tx,
            record,
            c.disk,
            contentKeyOf(source.key, c.disk),
            target,
            mode,
          ),
        );
      }
      return contents;
    }
    const disks: [string, StorageProfile["osDiskImage"], string][] = [];
    if (sp.osDiskImage?.source) {
      disks.push(["os", sp.osDiskImage, "properties.storageProfile.osDiskImage.source"]);
    }
    for (const [i, d] of (sp.dataDiskImages ?? []).entries()) {
      disks.push([`lun:${d.lun}`, d, `properties.storageProfile.dataDiskImages[${i}].source`]);
    }
    for (const [disk, image, target] of disks) {
      const s = image!.source!;
      if (s.uri !== undefined) {
        contents.push({ disk, source: { kind: "uri", uri: s.uri, target: `${target}.uri` } });
        continue;
      }
      const source = await this.sourceRecord(tx, s.id!, `${target}.id`);
      if (source.type !== TYPES.disk && source.type !== TYPES.snapshot) {
        throw new ValidationError(
          "InvalidParameter",
          `The source '${s.id}' of a disk image must be a managed disk or a snapshot.`,
          `${target}.id`,
        );
      }
      contents.push(await this.shareContent(tx, record, disk, source.key, `${target}.id`, mode));
    }
    return contents;
  }

  private async sourceRecord(tx: Store, id: string, target: string) {
    const unhosted = unhostedSourceKind(id);
    if (unhosted) {
      throw new ValidationError(
        "InvalidParameter",
        `The source '${id}' is ${unhosted}, which this server does not host, so it cannot be the source of an image version. Create the version from a managed disk or a snapshot (osDiskImage.source.id / dataDiskImages[].source.id) or from another gallery image version (storageProfile.source.id).`,
        target,
      );
    }
    const source = await tx.resources.get(keyOf(id));
    if (!source) {
      throw new NotFoundError(
        "ResourceNotFound",
        `The source '${id}' given as ${target} was not found.`,
        target,
      );
    }
    return source;
  }

  private async shareContent(
    tx: Store,
    record: ResourceRecord,
    disk: string,
    sourceKey: string,
    target: string,
    mode: "Full" | "Shallow",
  ): Promise<VersionContent> {
    const rows = await tx.manifests.listByResource(sourceKey);
    if (rows.length === 0) {
      throw new ConflictError(
        "InvalidParameter",
        `The source given as ${target} holds no content yet: upload to it and end its access (endGetAccess) first, or copy it from a disk that has content.`,
        target,
      );
    }
    const size = (rows[0]!.manifest as { size: number }).size;
    if (size > MAX_SOURCE_BYTES[mode]) {
      throw new ValidationError(
        "InvalidParameter",
        `The source given as ${target} is ${size} bytes; replicationMode ${mode} takes sources up to ${MAX_SOURCE_BYTES[mode]} bytes.`,
        target,
      );
    }
    const key = contentKeyOf(record.key, disk);
    for (const row of rows) {
      await tx.manifests.put({ ...row, resourceKey: key, createdAt: new Date().toISOString() });
    }
    return {
      disk,
      source: { kind: "content", key: sourceKey, target },
      size,
      sha256: rows[0]!.digest,
    };
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
        "replicationMode Shallow keeps one reference to the source in the image version's own region: give exactly that one target region with one replica.",
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
          resourceType: TYPES.imageVersion,
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
      for (const row of await tx.manifests.listByResource(contentKeyOf(record.key, c.disk))) {
        if (this.placement.regionOf(row.location) === region) here.add(row.location);
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
      const rows = await tx.manifests.listByResource(key);
      // Never drop the last copy, whatever the replicas say.
      const keep = rows.filter((r) => used.has(r.location));
      if (keep.length === 0) continue;
      for (const row of rows) {
        if (!used.has(row.location)) await tx.manifests.deleteOne(key, row.location);
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

  async recordValidation(versionKey: string, outcome: TrustedLaunchOutcome) {
    await this.store.transaction(async (tx) => {
      const version = await tx.resources.get(versionKey);
      if (!version || version.properties._validated) return;
      version.properties._validated = true;
      version.properties.validationsProfile = {
        validationEtag: outcome.executionTime.toISOString(),
        executedValidations: [
          {
            type: "TrustedLaunch",
            status: outcome.status,
            version: TRUSTED_LAUNCH_CHECK_VERSION,
            executionTime: outcome.executionTime.toISOString(),
          },
        ],
      };
      if (outcome.detail) version.properties._validationDetail = outcome.detail;
      await tx.resources.update(version);
    });
  }

  /** Sizes and digests of each disk, known once the content is stored. */
  private async describeContent(tx: Store, version: ResourceRecord) {
    const contents = versionContentsOf(version.properties);
    const sp = { ...(version.properties.storageProfile as StorageProfile) };
    for (const c of contents) {
      const [row] = await tx.manifests.listByResource(contentKeyOf(version.key, c.disk));
      if (!row) continue;
      c.size = (row.manifest as { size: number }).size;
      c.sha256 = row.digest;
      const described = { sizeInGB: sizeInGbOf(c.size), contentSha256: c.sha256 };
      if (c.disk === "os") {
        sp.osDiskImage = {
          ...described,
          hostCaching: "ReadWrite",
          ...sp.osDiskImage,
          ...described,
        };
        if (sp.source && !sp.osDiskImage.source) sp.osDiskImage.source = {};
      } else {
        const lun = Number(c.disk.slice("lun:".length));
        const data = [...(sp.dataDiskImages ?? [])];
        const i = data.findIndex((d) => d.lun === lun);
        // Azure's key order: lun, sizeInGB, hostCaching, source (test_gallery_specialized#50).
        if (i >= 0) data[i] = { lun, ...described, ...data[i], ...described };
        else data.push({ lun, ...described, hostCaching: "None" });
        sp.dataDiskImages = data;
      }
    }
    version.properties.storageProfile = sp;
    version.properties._contents = contents;
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

  /** The key of the definition a version belongs to. */
  static definitionKeyOf(path: ResourcePath) {
    return keyOf(parentIdOf(TYPES.imageVersion, path));
  }
}
