/**
 * Disks and snapshots: their life cycle (through `ResourceService` and the rules in rules.ts),
 * access grants, the upload area and sealing an upload into chunks.
 *
 * Invariants:
 * - Uploaded bytes live only in the upload area until sealed; reads of a sealed disk come from the
 *   chunk store of its storage location (zero chunks synthesized, never read): the zone it names,
 *   else its region's first zone (or the region, without zones); a Copy stays with its source.
 * - Sealing is all or nothing: the upload is checked (fixed VHD in Azure's format) and ingested
 *   before one transaction records the manifest and makes the disk `Unattached`. On any failure
 *   nothing is recorded and the disk is back to `ReadyToUpload` with its upload area kept, so the
 *   upload can be fixed and sealed again; chunks an interrupted ingest wrote are unreferenced and
 *   garbage collection removes them.
 * - A Copy shares its source's manifest (copy-on-write): a new manifest row, no chunk copied.
 *   A disk larger than its source, or resized, gets a manifest of its own in the same
 *   transaction: the source's chunks, holes, and one new chunk for its footer (resized-content.ts).
 * - The content of a disk's blob is a fixed VHD: the disk followed by its 512-byte footer. For an
 *   uploaded disk that is the upload as sent (footer included, so a download is byte-identical);
 *   an Empty disk has no manifest and reads as zeros and a footer made from its unique id.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { ChunkStore } from "../blobs/chunk-store.js";
import { StreamLimits } from "../blobs/chunk-stream.js";
import { FsBlobDriver } from "../blobs/fs-driver.js";
import { collectGarbage, type GcReport } from "../blobs/gc.js";
import {
  chunkLength,
  manifestHashes,
  parseManifest,
  type DigestedManifest,
  type Manifest,
} from "../blobs/manifest.js";
import { ConflictError, NotFoundError, ValidationError } from "../domain/errors.js";
import { idOf, keyOf, TYPES, type ResourcePath } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { OperationRecord, ResourceRecord, Store } from "../domain/resource.js";
import {
  ResourceService,
  type KindRules,
  type PatchInput,
  type Properties,
  type WriteContext,
  type WriteInput,
} from "../domain/resource-service.js";
import { fileRandomAccess } from "../formats/random-access.js";
import { createVhdFooter, openFixedVhd, VHD_FOOTER_SIZE, VhdError } from "../formats/vhd.js";
import {
  accessOf,
  blobSizeOf,
  diskKindRules,
  diskStateOf,
  isDiskType,
  snapshotKindRules,
  type AccessGrant,
  type CopySource,
} from "./rules.js";
import { ReplicaLoad } from "./replica-load.js";
import { resizedContent } from "./resized-content.js";
import { SasError, SasSigner, type BlobPath, type SasClaims } from "./sas.js";
import { UploadAreas, type Ranges } from "./upload-area.js";

export type DiskKind = "disk" | "snapshot";

/** What a blob URL opens: the resource, its grant, and its content. */
export interface OpenedBlob {
  record: ResourceRecord;
  claims: SasClaims;
  content: BlobContent;
}

/** The bytes behind a blob URL, as Get Blob, Get Page Ranges and Get Properties see them. */
export interface BlobContent {
  readonly size: number;
  /** Version tag: changes whenever the content may have changed. */
  readonly etag: string;
  readonly lastModified: Date;
  /** Bytes `[start, end]` (inclusive). */
  stream(start: number, end: number): Readable;
  /** Inclusive ranges that may hold data, sorted and disjoint. */
  pageRanges(): Promise<Ranges>;
}

/**
 * What FromImage disks need from the gallery: the image version to deploy in a region (a
 * definition id means its latest there), and where that version's complete replicas are.
 */
export interface GalleryImages {
  deployable(
    store: Store,
    id: string,
    region: string,
    lun: number | undefined,
    target: string,
    preferLocation?: string,
  ): Promise<{
    version: ResourceRecord;
    definition: ResourceRecord;
    contentKey: string;
    /** Where a complete replica in the region holds the content. */
    location: string;
    size: number;
  }>;
  completedReplicas(
    versionKey: string,
    region: string,
  ): Promise<{ region: string; ordinal: number; locations: string[] }[]>;
}

/** Where a FromImage disk's content lives while its image version exists. */
interface ImageContent {
  versionKey: string;
  contentKey: string;
}

/** A blob request that Azure Storage refuses: its status, code and message. */
export class StorageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Azure's Put Page limit. */
export const MAX_PAGE_WRITE = 4 * 1024 * 1024;
export const MAX_ACCESS_SECONDS = 30 * 24 * 3600;

export class DiskService {
  private readonly rules: Record<DiskKind, KindRules> = {
    disk: diskKindRules(),
    snapshot: snapshotKindRules(),
  };
  readonly uploads: UploadAreas;
  readonly sas: SasSigner;
  private readonly chunkStores = new Map<string, ChunkStore>();
  readonly replicaLoad = new ReplicaLoad();
  /** One budget for the downloads of every location, so that it bounds them all together. */
  private readonly streamLimits = new StreamLimits();

  constructor(
    private readonly store: Store,
    private readonly regions: RegionCatalog,
    private readonly dataDir: string,
    private readonly images?: GalleryImages,
  ) {
    this.uploads = new UploadAreas(join(dataDir, "uploads"));
    this.sas = SasSigner.open(join(dataDir, "disks", "sas-key"));
  }

  service(kind: DiskKind, store: Store = this.store) {
    return new ResourceService(store, this.rules[kind], this.regions);
  }

  /**
   * The chunk store of a storage location (`eastus-1`, `westus`). An id that is no configured
   * location (a region's name, from data sealed before zones) is `<dataDir>/blobs/<id>`.
   */
  chunkStore(location: string): ChunkStore {
    let cs = this.chunkStores.get(location);
    if (!cs) {
      const dir =
        this.regions.storageLocation(location)?.path ?? join(this.dataDir, "blobs", location);
      cs = new ChunkStore(new FsBlobDriver(dir), { streamLimits: this.streamLimits });
      this.chunkStores.set(location, cs);
    }
    return cs;
  }

  /**
   * PUT: creates or replaces; a Copy shares its source's manifest. A creation also records the
   * operation its client polls, already `Succeeded`, in the same transaction: one commit per
   * creation, and no poll can find the disk without its operation.
   */
  async put(
    kind: DiskKind,
    path: ResourcePath,
    input: WriteInput,
    ctx: WriteContext,
  ): Promise<{ record: ResourceRecord; created: boolean; operation?: OperationRecord }> {
    return this.store.transaction(async (tx) => {
      const properties: Properties = { ...input.properties };
      const creation = (properties.creationData ?? {}) as Properties;
      const id = idOf(this.rules[kind].type, path);
      // An unknown location is left to ResourceService, which refuses it in ARM's order.
      if (this.regions.find(input.location)) {
        properties._storageLocation = this.regions.diskStorageLocation(
          input.location,
          properties._zones as string[] | undefined,
          { resourceId: id, resourceType: kind === "disk" ? "disks" : "snapshots" },
        ).id;
      }
      const existing = await tx.resources.get(keyOf(id));
      let source: ResourceRecord | undefined;
      let image: Awaited<ReturnType<GalleryImages["deployable"]>> | undefined;
      if (!existing && creation.createOption === "FromImage") {
        image = await this.imageSource(
          tx,
          input.location,
          creation,
          properties._storageLocation as string | undefined,
        );
        // The disk keeps its reference where a replica is: its zone's, when the region has one.
        properties._storageLocation = image.location;
        const def = image.definition.properties;
        checkGeneration(properties.hyperVGeneration, def.hyperVGeneration, image.version.id);
        properties._image = {
          versionKey: image.version.key,
          contentKey: image.contentKey,
        } satisfies ImageContent;
        properties._source = {
          id: image.version.id,
          uniqueId: image.version.key,
          diskSizeBytes: image.size - VHD_FOOTER_SIZE,
          osType: def.osType as string | undefined,
          hyperVGeneration: def.hyperVGeneration as string | undefined,
          imageReference: creation.galleryImageReference as CopySource["imageReference"],
        } satisfies CopySource;
      }
      if (!existing && creation.createOption === "Copy") {
        source = await this.copySource(tx, creation.sourceResourceId);
        properties._storageLocation = storageLocationOf(source);
        const sp = source.properties;
        properties._source = {
          id: source.id,
          uniqueId: sp.uniqueId,
          diskSizeBytes: sp.diskSizeBytes,
          osType: sp.osType,
          hyperVGeneration: sp.hyperVGeneration,
        } as CopySource;
      }
      const result = await this.service(kind, tx).put(path, { ...input, properties }, ctx);
      if (!result.created) {
        await this.grown(tx, existing!, result.record, ctx);
        return result;
      }
      if (image) {
        const sourceBytes = image.size - VHD_FOOTER_SIZE;
        const record = result.record;
        if (
          await this.contentFrom(tx, image.contentKey, image.location, record, sourceBytes, ctx)
        ) {
          // Grown: it reads its own content, which only its own location holds in full.
          delete record.properties._image;
          await tx.resources.update(record);
        }
      }
      if (source) {
        if (source.location !== result.record.location) {
          throw new ValidationError(
            "BadRequest",
            `The source '${source.id}' is in location '${source.location}'; a copy must be created in the same location.`,
            "location",
          );
        }
        // An Empty source has no manifest: nothing is copied, and the copy reads as zeros too.
        const location = storageLocationOf(source);
        const sourceBytes = source.properties.diskSizeBytes as number;
        await this.contentFrom(tx, source.key, location, result.record, sourceBytes, ctx);
      }
      const now = ctx.now.toISOString();
      const operation: OperationRecord = {
        id: randomUUID(),
        subscriptionId: result.record.subscriptionId,
        location: result.record.location,
        status: "Succeeded",
        startTime: now,
        endTime: now,
        error: null,
        resourceKey: result.record.key,
      };
      await tx.operations.insert(operation);
      return { ...result, operation };
    });
  }

  private async imageSource(
    tx: Store,
    location: string,
    creation: Properties,
    preferLocation: string | undefined,
  ) {
    const ref = creation.galleryImageReference as { id?: string; lun?: number } | undefined;
    const target = "properties.creationData.galleryImageReference.id";
    if (!ref?.id) {
      throw new ValidationError(
        "InvalidParameter",
        "Required parameter 'creationData.galleryImageReference.id' is missing (null).",
        target,
      );
    }
    if (!this.images) {
      throw new ValidationError("InvalidParameter", "Gallery images are not served here.", target);
    }
    const region = this.regions.require(location, TYPES.disk);
    return this.images.deployable(tx, ref.id, region.name, ref.lun, target, preferLocation);
  }

  private async copySource(tx: Store, sourceId: unknown): Promise<ResourceRecord> {
    if (typeof sourceId !== "string" || sourceId === "") {
      throw new ValidationError(
        "InvalidParameter",
        "Required parameter 'creationData.sourceResourceId' is missing (null).",
        "properties.creationData.sourceResourceId",
      );
    }
    const source = await tx.resources.get(keyOf(sourceId));
    if (!source || !isDiskType(source.type)) {
      throw new NotFoundError(
        "NotFound",
        `Resource '${sourceId}' was not found: the copy source must be an existing disk or snapshot.`,
        "properties.creationData.sourceResourceId",
      );
    }
    const state = diskStateOf(source.properties);
    if (state === "ReadyToUpload" || state === "ActiveUpload") {
      throw new ConflictError(
        "OperationNotAllowed",
        `The source '${source.name}' is in state '${state}': its upload must be finished (endGetAccess) before it can be copied.`,
        "properties.creationData.sourceResourceId",
      );
    }
    return source;
  }

  /** PATCH; a larger `diskSizeGB` grows the content in the same transaction. */
  patch(kind: DiskKind, path: ResourcePath, input: PatchInput, ctx: WriteContext) {
    return this.store.transaction(async (tx) => {
      const before = await this.service(kind, tx).get(path);
      const after = await this.service(kind, tx).patch(path, input, ctx);
      await this.grown(tx, before, after, ctx);
      return after;
    });
  }

  /** After a resize (`before` → `after`), the content of every location grown to match. */
  private async grown(tx: Store, before: ResourceRecord, after: ResourceRecord, ctx: WriteContext) {
    const from = before.properties.diskSizeBytes as number;
    if (after.properties.diskSizeBytes === from) return;
    // A FromImage disk has its own row too: from now on it reads that (rules drop `_image`).
    for (const location of await tx.manifests.listLocations(after.key)) {
      await this.contentFrom(tx, after.key, location, after, from, ctx);
    }
  }

  /**
   * Records `record`'s content at `location` from `fromKey`'s there (of `fromDiskBytes`): the same
   * manifest (copy-on-write: a row pointing at the source's body) when the disk has its source's
   * size, else that content grown to the record's size. A source without content there (an Empty
   * disk) needs nothing: the disk reads as zeros and its own footer too. Resolves to whether it
   * grew.
   */
  private async contentFrom(
    tx: Store,
    fromKey: string,
    location: string,
    record: ResourceRecord,
    fromDiskBytes: number,
    ctx: WriteContext,
  ): Promise<boolean> {
    const now = ctx.now.toISOString();
    if (record.properties.diskSizeBytes === fromDiskBytes) {
      await tx.manifests.copy(fromKey, location, record.key, now);
      return false;
    }
    const row = await tx.manifests.get(fromKey, location);
    if (!row) return true;
    const manifest = await resizedContent(
      this.chunkStore(location),
      parseManifest(row.manifest),
      fromDiskBytes,
      record.properties.diskSizeBytes as number,
      footerOf(record),
    );
    await tx.manifests.put({
      resourceKey: record.key,
      location,
      manifest,
      digest: null,
      createdAt: now,
    });
    return true;
  }

  /**
   * The content of a disk or snapshot that has no manifest (an Empty disk, or a copy of one) as a
   * manifest of its own location — zeros and its footer, with the one chunk that holds the footer
   * written — so that a version can be made from it. Nothing is recorded.
   */
  async emptyContent(record: ResourceRecord): Promise<{ location: string; manifest: Manifest }> {
    const location = storageLocationOf(record);
    const bytes = record.properties.diskSizeBytes as number;
    const cs = this.chunkStore(location);
    return {
      location,
      manifest: await resizedContent(cs, undefined, bytes, bytes, footerOf(record)),
    };
  }

  get(kind: DiskKind, path: ResourcePath) {
    return this.service(kind).get(path);
  }

  /** DELETE: refused while a grant is open; drops the manifest row and the upload area. */
  async delete(kind: DiskKind, path: ResourcePath) {
    const deleted = await this.store.transaction(async (tx) => {
      const key = keyOf(idOf(this.rules[kind].type, path));
      const existing = await tx.resources.get(key);
      if (existing && accessOf(existing.properties)) {
        throw new ConflictError(
          "OperationNotAllowed",
          `Disk '${existing.name}' has an active SAS URI (state '${diskStateOf(existing.properties)}'). Revoke access (endGetAccess) before deleting it.`,
        );
      }
      const record = await this.service(kind, tx).delete(path);
      if (record) await tx.manifests.deleteAll(record.key);
      return record;
    });
    if (deleted) await this.uploads.remove(deleted.properties.uniqueId as string);
    return deleted;
  }

  /** beginGetAccess: opens (or extends) a Read or Write grant and returns its URL's path and query. */
  async grantAccess(
    kind: DiskKind,
    path: ResourcePath,
    request: { access: string; durationInSeconds: number },
    now = new Date(),
  ): Promise<{ path: BlobPath; query: string }> {
    const mode = request.access;
    if (mode !== "Read" && mode !== "Write") {
      throw new ValidationError(
        "InvalidParameter",
        `Access '${mode}' cannot be granted: use 'Read' or 'Write'.`,
        "access",
      );
    }
    const seconds = request.durationInSeconds;
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_ACCESS_SECONDS) {
      throw new ValidationError(
        "InvalidParameter",
        `durationInSeconds must be between 1 and ${MAX_ACCESS_SECONDS}.`,
        "durationInSeconds",
      );
    }
    const record = await this.store.transaction(async (tx) => {
      const current = await this.service(kind, tx).get(path);
      const state = diskStateOf(current.properties);
      const open = accessOf(current.properties);
      const allowed =
        mode === "Write"
          ? state === "ReadyToUpload" || (state === "ActiveUpload" && open?.mode === "Write")
          : state === "Unattached" || (state === "ActiveSAS" && open?.mode === "Read");
      if (!allowed) {
        throw new ConflictError(
          "OperationNotAllowed",
          mode === "Write"
            ? `Write access can only be granted to a disk created for upload in state 'ReadyToUpload'; '${current.name}' is '${state}'.`
            : `Read access cannot be granted to '${current.name}' in state '${state}'.${state === "ReadyToUpload" || state === "ActiveUpload" ? " Finish the upload (endGetAccess) first." : ""}`,
        );
      }
      const grant: AccessGrant = {
        id: open?.id ?? randomUUID(),
        mode,
        expiresAt: new Date(now.getTime() + seconds * 1000).toISOString(),
      };
      const updated: ResourceRecord = {
        ...current,
        properties: {
          ...current.properties,
          diskState: mode === "Write" ? "ActiveUpload" : "ActiveSAS",
          _access: grant,
        },
      };
      await tx.resources.update(updated);
      return updated;
    });
    const p = record.properties;
    if (diskStateOf(p) === "ActiveUpload") {
      await this.uploads.ensure(p.uniqueId as string, blobSizeOf(p));
    }
    const grant = accessOf(p)!;
    const blobPath = this.sas.pathOf(p.uniqueId as string);
    const query = this.sas.sign(blobPath, {
      resourceKey: record.key,
      grantId: grant.id,
      permission: grant.mode === "Write" ? "rw" : "r",
      expiresAt: new Date(grant.expiresAt),
    });
    return { path: blobPath, query };
  }

  /**
   * endGetAccess: closes the grant. After a Write grant this seals the upload (see the module
   * comment); a VhdError is rethrown after the disk is back to `ReadyToUpload`.
   */
  async revokeAccess(
    kind: DiskKind,
    path: ResourcePath,
    now = new Date(),
  ): Promise<ResourceRecord> {
    const record = await this.service(kind).get(path);
    const p = record.properties;
    if (diskStateOf(p) === "ActiveSAS") {
      return this.setState(
        kind,
        path,
        (r) => accessOf(r.properties)?.mode === "Read",
        "Unattached",
      );
    }
    if (diskStateOf(p) !== "ActiveUpload") return record;
    const uniqueId = p.uniqueId as string;
    return this.uploads.exclusive(uniqueId, async () => {
      let manifest: DigestedManifest;
      try {
        manifest = await this.ingestUpload(record);
      } catch (err) {
        await this.setState(
          kind,
          path,
          (r) => diskStateOf(r.properties) === "ActiveUpload",
          "ReadyToUpload",
        );
        throw err;
      }
      const sealed = await this.store.transaction(async (tx) => {
        const current = await this.service(kind, tx).get(path);
        if (
          diskStateOf(current.properties) !== "ActiveUpload" ||
          current.properties.uniqueId !== uniqueId
        ) {
          throw new ConflictError(
            "OperationNotAllowed",
            `Disk '${current.name}' changed while its upload was being sealed; try again.`,
          );
        }
        await tx.manifests.put({
          resourceKey: current.key,
          location: storageLocationOf(current),
          manifest,
          digest: manifest.sha256,
          createdAt: now.toISOString(),
        });
        const { _access: _, ...rest } = current.properties;
        const updated = { ...current, properties: { ...rest, diskState: "Unattached" } };
        await tx.resources.update(updated);
        return updated;
      });
      await this.uploads.remove(uniqueId);
      return sealed;
    });
  }

  /** Checks the upload area is a fixed VHD in Azure's format and ingests it (nothing recorded). */
  private async ingestUpload(record: ResourceRecord): Promise<DigestedManifest> {
    const source = await fileRandomAccess(
      this.uploads.pathOf(record.properties.uniqueId as string),
    );
    try {
      if (source.size !== blobSizeOf(record.properties)) {
        throw new VhdError(
          "size-mismatch",
          `the upload area holds ${source.size} bytes, the disk was created for ${blobSizeOf(record.properties)}`,
        );
      }
      await openFixedVhd(source);
      return await this.chunkStore(storageLocationOf(record)).ingest(source);
    } finally {
      await source.close();
    }
  }

  private async setState(
    kind: DiskKind,
    path: ResourcePath,
    when: (r: ResourceRecord) => boolean,
    state: string,
  ): Promise<ResourceRecord> {
    return this.store.transaction(async (tx) => {
      const current = await this.service(kind, tx).get(path);
      if (!when(current)) return current;
      const { _access: _, ...rest } = current.properties;
      const updated = { ...current, properties: { ...rest, diskState: state } };
      await tx.resources.update(updated);
      return updated;
    });
  }

  /**
   * The resource a blob URL opens, checked: signature, expiry, the grant still open. Any failure
   * is Azure Storage's 403 AuthenticationFailed.
   */
  async open(
    path: BlobPath,
    query: Record<string, unknown>,
    now = new Date(),
  ): Promise<OpenedBlob> {
    let claims: SasClaims;
    try {
      claims = this.sas.verify(path, query, now);
    } catch (err) {
      if (err instanceof SasError) throw authenticationFailed(err.message);
      throw err;
    }
    const record = await this.store.resources.get(claims.resourceKey);
    const grant = record && accessOf(record.properties);
    if (!record || !grant || grant.id !== claims.grantId) {
      throw authenticationFailed("The access grant of this SAS has been revoked (endGetAccess).");
    }
    if (new Date(grant.expiresAt).getTime() <= now.getTime()) {
      throw authenticationFailed(
        `Signature not valid in the specified time frame: Expiry [${new Date(grant.expiresAt).toUTCString()}] - Current [${now.toUTCString()}]`,
      );
    }
    return { record, claims, content: await this.contentOf(record) };
  }

  private async contentOf(record: ResourceRecord): Promise<BlobContent> {
    const p = record.properties;
    const size = blobSizeOf(p);
    const uniqueId = p.uniqueId as string;
    if (diskStateOf(p) === "ActiveUpload") {
      const ranges = await this.uploads.ranges(uniqueId);
      return {
        size,
        etag: `"0x${Buffer.from(JSON.stringify(ranges)).length.toString(16)}${uniqueId.slice(0, 8)}"`,
        lastModified: new Date(record.systemData.lastModifiedAt),
        stream: (start, end) => this.uploads.stream(uniqueId, start, end),
        pageRanges: async () => this.uploads.ranges(uniqueId),
      };
    }
    const etag = `"0x${Buffer.from(uniqueId.replace(/-/g, ""), "hex").subarray(0, 8).toString("hex").toUpperCase()}"`;
    const lastModified = new Date(p.timeCreated as string);
    const image = p._image as ImageContent | undefined;
    const fromReplicas = image && (await this.replicaContent(image, record.location));
    if (fromReplicas) return { ...fromReplicas, etag, lastModified };
    const row =
      (await this.store.manifests.get(record.key, storageLocationOf(record))) ??
      (await this.store.manifests.listByResource(record.key))[0];
    if (row) {
      const manifest = parseManifest(row.manifest);
      const cs = this.chunkStore(row.location);
      return {
        size: manifest.size,
        etag,
        lastModified,
        stream: (start, end) => cs.stream(manifest, { start, end }),
        pageRanges: async () => manifestRanges(manifest),
      };
    }
    const footer = footerOf(record);
    return {
      size,
      etag,
      lastModified,
      stream: (start, end) => Readable.from(zerosThenFooter(size, footer, start, end)),
      pageRanges: async () => [[size - VHD_FOOTER_SIZE, size - 1]],
    };
  }

  /**
   * A deployed disk reads its image's replicas in its region while the version exists: each read
   * goes to the least-loaded complete replica.
   */
  private async replicaContent(image: ImageContent, region: string) {
    const replicas = (await this.images?.completedReplicas(image.versionKey, region)) ?? [];
    const rows = await this.store.manifests.listByResource(image.contentKey);
    const candidates = replicas.flatMap((r) => {
      const row = rows.find((m) => r.locations.includes(m.location));
      return row ? [{ replica: `${image.versionKey}|${r.region}|${r.ordinal}`, row }] : [];
    });
    if (candidates.length === 0) return undefined;
    const manifest = parseManifest(candidates[0]!.row.manifest);
    return {
      size: manifest.size,
      stream: (start: number, end: number) => {
        const { replica, row } = this.replicaLoad.pick(candidates);
        const cs = this.chunkStore(row.location);
        return this.replicaLoad.track(replica, cs.stream(manifest, { start, end }));
      },
      pageRanges: async () => manifestRanges(manifest),
    };
  }

  /** Put Page under the area's lock, re-checking the grant so that no write lands after a seal. */
  async writePages(
    path: BlobPath,
    query: Record<string, unknown>,
    offset: number,
    data: Buffer | { clear: number },
  ): Promise<ResourceRecord> {
    const first = await this.open(path, query);
    if (first.claims.permission !== "rw") {
      throw new StorageError(
        403,
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
      );
    }
    const uniqueId = first.record.properties.uniqueId as string;
    return this.uploads.exclusive(uniqueId, async () => {
      const { record } = await this.open(path, query);
      if (diskStateOf(record.properties) !== "ActiveUpload") {
        throw authenticationFailed("The access grant of this SAS has been revoked (endGetAccess).");
      }
      await this.uploads.write(uniqueId, offset, data);
      return record;
    });
  }

  /**
   * Removes chunks of a storage location (`eastus-1`) that no manifest references and that are
   * older than `graceMs`.
   */
  async collectGarbage(location: string, graceMs?: number): Promise<GcReport> {
    const cs = this.chunkStore(location);
    return collectGarbage(cs.driver, {
      graceMs,
      references: async () => {
        const manifests = await this.store.manifests.listReferencedAt(location);
        const all = new Set<string>();
        for (const m of manifests) for (const h of manifestHashes(parseManifest(m))) all.add(h);
        return all;
      },
    });
  }
}

/**
 * The storage location of a disk's chunks: recorded at creation; a region's name for disks from
 * before zones (their chunks are in `blobs/<region>`).
 */
export const storageLocationOf = (record: ResourceRecord) =>
  (record.properties._storageLocation as string | undefined) ?? record.location;

/**
 * The footer of content this server makes for a disk (Empty, grown): its size, and its unique id
 * and creation time, so that every read of the disk shows the same one.
 */
function footerOf(record: ResourceRecord): Buffer {
  const p = record.properties;
  return createVhdFooter(p.diskSizeBytes as number, {
    uniqueId: Buffer.from((p.uniqueId as string).replace(/-/g, ""), "hex"),
    createdAt: new Date(p.timeCreated as string),
  });
}

function authenticationFailed(detail: string) {
  return new StorageError(
    403,
    "AuthenticationFailed",
    "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    detail,
  );
}

/** Data ranges of a manifest: its stored chunks, adjacent ones merged. */
export function manifestRanges(m: Manifest): Ranges {
  const out: Ranges = [];
  for (const [index] of m.chunks) {
    const start = index * m.chunkSize;
    const end = start + chunkLength(m, index) - 1;
    const last = out.at(-1);
    if (last && last[1] + 1 === start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

function* zerosThenFooter(size: number, footer: Buffer, start: number, end: number) {
  const footerAt = size - VHD_FOOTER_SIZE;
  const zeros = Buffer.alloc(1024 * 1024);
  let at = start;
  while (at <= Math.min(end, footerAt - 1)) {
    const n = Math.min(zeros.length, Math.min(end, footerAt - 1) - at + 1);
    yield zeros.subarray(0, n);
    at += n;
  }
  if (end >= footerAt)
    yield footer.subarray(Math.max(start, footerAt) - footerAt, end - footerAt + 1);
}

/**
 * A FromImage disk boots what its image boots: it takes the definition's Hyper-V generation, and
 * one that asks for another is refused rather than made unbootable.
 */
function checkGeneration(asked: unknown, image: unknown, versionId: string) {
  const generation = typeof image === "string" ? image : "V1";
  if (typeof asked === "string" && asked.toUpperCase() !== generation.toUpperCase()) {
    throw new ValidationError(
      "InvalidParameter",
      `The disk asks for Hyper-V generation '${asked}', but the image '${versionId}' is of generation '${generation}'. Omit hyperVGeneration: a disk created from an image takes the image's.`,
      "properties.hyperVGeneration",
    );
  }
}
