/**
 * Image versions on the life cycle all gallery versions share (`version-lifecycle.ts`): their
 * sources (disks, snapshots, versions, VHDs by URI), what a stored disk says about itself
 * (`sizeInGB`, `contentSha256`), and what deployments need — `latest` per region and the content a
 * new disk reads. A region is usable (for `latest` and deployments) as soon as its own replicas
 * are complete.
 */
import { ConflictError, NotFoundError, ValidationError } from "../domain/errors.js";
import { keyOf, parentIdOf, TYPES, type ResourcePath } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ReplicaRecord, ResourceRecord, Store } from "../domain/resource.js";
import type { Properties } from "../domain/resource-service.js";
import {
  compareVersionNames,
  contentKeyOf,
  excludedFromLatest,
  imageVersionRules,
  MAX_SOURCE_BYTES,
  versionContentsOf,
  versionStateOf,
  type DiskImage,
  type PublishingProfile,
  type StorageProfile,
  type VersionContent,
} from "./image-versions.js";
import { VersionService, type ReplicaPlacement } from "./version-lifecycle.js";

export type {
  AggregatedState,
  ReplicaPlacement,
  ReplicationStatus,
  VersionWrite,
} from "./version-lifecycle.js";

/** Checks a VHD given by URI before a version takes it (exists, readable, a fixed VHD). */
export type UriSourceCheck = (
  uri: string,
  storageAccountId: string,
  target: string,
) => Promise<void>;

/**
 * The content of a disk or snapshot that has none stored (never written): a manifest of zeros and
 * its footer in its storage location, its chunks written but nothing recorded (DiskService).
 */
export type EmptyContent = (
  disk: ResourceRecord,
) => Promise<{ location: string; manifest: unknown }>;

/** A version that can be deployed in a region, and where its disk's content is stored there. */
export interface DeployableImage {
  version: ResourceRecord;
  definition: ResourceRecord;
  /** Key of the content (one disk of the version) the new disk reads. */
  contentKey: string;
  /** A storage location of a complete replica in the region that holds the content. */
  location: string;
  /** Bytes of the content (the disk's VHD blob). */
  size: number;
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

export class ImageVersionService extends VersionService {
  constructor(
    store: Store,
    regions: RegionCatalog,
    placement: ReplicaPlacement,
    limit: number,
    /** Called after a write that queued replication work commits. */
    onQueued: () => void = () => {},
    private readonly checkUri?: UriSourceCheck,
    private readonly emptyContent?: EmptyContent,
  ) {
    super(store, regions, placement, imageVersionRules(regions, limit), onQueued);
  }

  protected override checkSources(properties: Properties) {
    return this.checkUriSources(properties.storageProfile as StorageProfile | undefined);
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

  /** A version whose safety profile blocks deletion before its end of life. */
  protected override checkDelete(existing: ResourceRecord, now: Date) {
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
    const content = versionContentsOf(version.properties).find((c) => c.disk === disk);
    if (!content) {
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
    // Only where the content is: its manifests are not read (a disk copies one in SQL).
    const stored = await store.manifests.listLocations(contentKey);
    const location =
      stored.find((l) => l === preferLocation && locations.has(l)) ??
      stored.find((l) => locations.has(l));
    if (!location) throw notAvailable();
    const size =
      content.size ??
      ((await store.manifests.get(contentKey, location))!.manifest as { size: number }).size;
    const definition = (await store.resources.get(version.parentKey!))!;
    return { version, definition, contentKey, location, size };
  }

  /**
   * Takes each disk's content from its source as copy-on-write manifest rows at the locations
   * where the source's content is stored: no bytes move until a replica elsewhere needs them.
   */
  protected override async takeSources(
    tx: Store,
    record: ResourceRecord,
  ): Promise<VersionContent[]> {
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
      if (disk === "os") await this.checkGeneration(tx, record, source, `${target}.id`);
      if (this.emptyContent && (await tx.manifests.listLocations(source.key)).length === 0) {
        await this.recordEmptyContent(tx, source, `${target}.id`);
      }
      contents.push(await this.shareContent(tx, record, disk, source.key, `${target}.id`, mode));
    }
    return contents;
  }

  /**
   * An OS disk that says which Hyper-V generation it boots must match its definition's, as Azure
   * checks (a V2 disk in a V1 definition would not boot on the VMs that definition promises).
   */
  private async checkGeneration(
    tx: Store,
    record: ResourceRecord,
    source: ResourceRecord,
    target: string,
  ) {
    const disk = source.properties.hyperVGeneration as string | undefined;
    const definition = record.parentKey ? await tx.resources.get(record.parentKey) : undefined;
    const expected = (definition?.properties.hyperVGeneration as string | undefined) ?? "V1";
    if (disk && disk.toUpperCase() !== expected.toUpperCase()) {
      throw new ConflictError(
        "Conflict",
        `The resource with id '${source.id}' has a different Hypervisor generation ['${disk}'] than the parent gallery image Hypervisor generation ['${expected}'].`,
        target,
      );
    }
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

  /**
   * A disk or snapshot that was never written (Empty, or a copy of one) has no manifest; it gets
   * one (zeros and its footer) so that the version shares it as any other content. A disk still
   * waiting for its upload is refused instead: its content is not decided yet.
   */
  private async recordEmptyContent(tx: Store, source: ResourceRecord, target: string) {
    const state = source.properties.diskState as string | undefined;
    if (state === "ReadyToUpload" || state === "ActiveUpload") {
      throw new ConflictError(
        "InvalidParameter",
        `The source given as ${target} holds no content yet: upload to it and end its access (endGetAccess) first.`,
        target,
      );
    }
    const { location, manifest } = await this.emptyContent!(source);
    await tx.manifests.put({
      resourceKey: source.key,
      location,
      manifest,
      digest: null,
      createdAt: new Date().toISOString(),
    });
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
    const now = new Date().toISOString();
    // Rows pointing at the source's manifest bodies: nothing is re-serialized or re-hashed.
    for (const row of rows) await tx.manifests.copy(sourceKey, row.location, key, now);
    return {
      disk,
      source: { kind: "content", key: sourceKey, target },
      size,
      sha256: rows[0]!.digest ?? undefined,
    };
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
  protected override async describeContent(tx: Store, version: ResourceRecord) {
    const contents = versionContentsOf(version.properties);
    const sp = { ...(version.properties.storageProfile as StorageProfile) };
    for (const c of contents) {
      const [row] = await tx.manifests.listByResource(contentKeyOf(version.key, c.disk));
      if (!row) continue;
      c.size = (row.manifest as { size: number }).size;
      c.sha256 = row.digest ?? undefined;
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

  /** The key of the definition a version belongs to. */
  static definitionKeyOf(path: ResourcePath) {
    return keyOf(parentIdOf(TYPES.imageVersion, path));
  }
}
