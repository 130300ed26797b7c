/**
 * Image versions: names, the publishing profile with Azure's defaults and echo rules (recorded in
 * az-recordings/SHAPES.md §5), the storage profile's sources, the safety profile, and what a
 * replace may change. Replicas and their jobs are planned here and run by `replication/`.
 */
import { ConflictError, ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord } from "../domain/resource.js";
import type { KindRules, Properties, WriteContext } from "../domain/resource-service.js";
import { checkEndOfLife, dropUndefined, refuseChange } from "./rules.js";

const INT32_MAX = 2 ** 31 - 1;
export const MAX_REPLICAS_PER_VERSION = 100;
export const MAX_REPLICAS_PER_REGION = 50;
const GiB = 1024 ** 3;
/** Largest source per replication mode (Azure: Full up to 2 TB, Shallow up to 32 TB). */
export const MAX_SOURCE_BYTES = { Full: 2 * 1024 * GiB, Shallow: 32 * 1024 * GiB } as const;

export type VersionState = "Creating" | "Updating" | "Succeeded" | "Failed";

export interface TargetRegion {
  name: string;
  regionalReplicaCount: number;
  storageAccountType: string;
  excludeFromLatest?: boolean;
  encryption?: unknown;
}

export interface PublishingProfile {
  targetRegions: TargetRegion[];
  targetExtendedLocations?: unknown[];
  replicaCount: number;
  excludeFromLatest: boolean;
  publishedDate: string;
  endOfLifeDate?: string;
  storageAccountType: string;
  replicationMode?: string;
}

export interface DiskImageSource {
  id?: string;
  uri?: string;
  storageAccountId?: string;
}

export interface DiskImage {
  lun?: number;
  sizeInGB?: number;
  hostCaching?: string;
  source?: DiskImageSource;
  contentSha256?: string;
}

export interface StorageProfile {
  source?: { id?: string };
  osDiskImage?: DiskImage;
  dataDiskImages?: DiskImage[];
}

/** Where one disk of a version comes from: a stored content (disk, snapshot, version) or a URI. */
export type ContentSource =
  { kind: "content"; key: string; target: string } | { kind: "uri"; uri: string; target: string };

/** One disk of a version: `os` or `lun:N`, with what the worker needs to place its replicas. */
export interface VersionContent {
  disk: string;
  source: ContentSource;
  /** Known once the content is stored (at once for a stored source, after ingest for a URI). */
  size?: number;
  sha256?: string;
}

/** Keys the store keeps on a version that are never shown to clients. */
export interface VersionInternals {
  _state: VersionState;
  _operation?: string;
  _contents: VersionContent[];
  _validated?: boolean;
}

export const versionStateOf = (p: Properties) =>
  (p._state as VersionState | undefined) ?? "Succeeded";
export const versionContentsOf = (p: Properties) =>
  (p._contents as VersionContent[] | undefined) ?? [];
export const contentKeyOf = (versionKey: string, disk: string) => `${versionKey}|${disk}`;

/** `1.0.0`, `2018.12.1`: three non-negative 32-bit integers. */
export function parseVersionName(name: string): [number, number, number] | undefined {
  const m = /^(\d{1,10})\.(\d{1,10})\.(\d{1,10})$/.exec(name);
  if (!m) return undefined;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number];
  return parts.every((n) => n <= INT32_MAX) ? parts : undefined;
}

export function compareVersionNames(a: string, b: string): number {
  const x = parseVersionName(a) ?? [0, 0, 0];
  const y = parseVersionName(b) ?? [0, 0, 0];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

function checkVersionName(name: string) {
  if (!parseVersionName(name)) {
    throw new ValidationError(
      "InvalidParameter",
      "The image version name is invalid. The image version name should follow Major(int).Minor(int).Patch(int) format, for e.g: 1.0.0, 2018.12.1 etc.",
      "galleryImageVersionName",
    );
  }
}

function checkCount(value: unknown, max: number, target: string): number | undefined {
  if (value === undefined) return undefined;
  const n = value as number;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new ValidationError(
      "InvalidParameter",
      `The value ${String(value)} of '${target}' is out of range: a replica count is between 1 and ${max}.`,
      target,
    );
  }
  return n;
}

type TargetRegionInput = {
  name: string;
  regionalReplicaCount?: number;
  storageAccountType?: string;
  excludeFromLatest?: boolean;
  encryption?: unknown;
};

/** The publishing profile as Azure answers it: display names, inherited counts, defaults. */
function publishingProfileOf(
  input: Properties | undefined,
  home: string,
  regions: RegionCatalog,
  ctx: WriteContext,
  previous?: PublishingProfile,
): PublishingProfile {
  const p = (input ?? {}) as Record<string, unknown>;
  const replicaCount =
    checkCount(
      p.replicaCount,
      MAX_REPLICAS_PER_REGION,
      "properties.publishingProfile.replicaCount",
    ) ??
    previous?.replicaCount ??
    1;
  const storageAccountType =
    (p.storageAccountType as string | undefined) ?? previous?.storageAccountType ?? "Standard_LRS";
  const requested = (p.targetRegions as TargetRegionInput[] | undefined) ??
    previous?.targetRegions ?? [{ name: home }];
  const seen = new Set<string>();
  let total = 0;
  const targetRegions = requested.map((t, i) => {
    const target = `properties.publishingProfile.targetRegions[${i}]`;
    const region = regions.require(t.name, TYPES.imageVersion, `${target}.name`);
    if (seen.has(region.name)) {
      throw new ValidationError(
        "InvalidParameter",
        "Duplicate regions are not allowed in target publishing regions.",
        `${target}.name`,
      );
    }
    seen.add(region.name);
    const count =
      checkCount(
        t.regionalReplicaCount,
        MAX_REPLICAS_PER_REGION,
        `${target}.regionalReplicaCount`,
      ) ?? replicaCount;
    total += count;
    return dropUndefined({
      name: region.displayName,
      regionalReplicaCount: count,
      storageAccountType: t.storageAccountType ?? storageAccountType,
      // Echoed as sent, true or false, and absent when not sent (SHAPES.md §5; the spec examples).
      excludeFromLatest: typeof t.excludeFromLatest === "boolean" ? t.excludeFromLatest : undefined,
      encryption: t.encryption,
    }) as TargetRegion;
  });
  if (!seen.has(home)) {
    const names = targetRegions.map((t) => t.name).join(", ");
    throw new ValidationError(
      "InvalidParameter",
      `Gallery image version publishing profile regions '${names}' must contain the location of image version '${home}'.`,
      "properties.publishingProfile.targetRegions",
    );
  }
  if (total > MAX_REPLICAS_PER_VERSION) {
    throw new ValidationError(
      "InvalidParameter",
      `The image version asks for ${total} replicas in all; at most ${MAX_REPLICAS_PER_VERSION} are allowed per image version.`,
      "properties.publishingProfile.targetRegions",
    );
  }
  if (((p.targetExtendedLocations as unknown[] | undefined) ?? []).length > 0) {
    throw new ValidationError(
      "InvalidParameter",
      "Extended locations (edge zones) are not served by this server: replicate to regions with targetRegions.",
      "properties.publishingProfile.targetExtendedLocations",
    );
  }
  checkEndOfLife(
    p.endOfLifeDate,
    "properties.publishingProfile.endOfLifeDate",
    ctx.now,
    previous?.endOfLifeDate,
  );
  return dropUndefined({
    targetRegions,
    targetExtendedLocations: p.targetExtendedLocations as unknown[] | undefined,
    replicaCount,
    excludeFromLatest:
      (p.excludeFromLatest as boolean | undefined) ?? previous?.excludeFromLatest ?? false,
    publishedDate: previous?.publishedDate ?? ctx.now.toISOString(),
    endOfLifeDate: (p.endOfLifeDate as string | undefined) ?? previous?.endOfLifeDate,
    storageAccountType,
    replicationMode: (p.replicationMode as string | undefined) ?? previous?.replicationMode,
  }) as PublishingProfile;
}

const sourceOf = (s: DiskImageSource | undefined) =>
  s && (s.id !== undefined || s.uri !== undefined) ? s : undefined;

/** The storage profile of a new version: one source form, unique LUNs, default host caching. */
function storageProfileOf(input: Properties | undefined): StorageProfile {
  const sp = (input ?? {}) as StorageProfile;
  const top = sp.source?.id ? { id: sp.source.id } : undefined;
  const os = sp.osDiskImage;
  const data = sp.dataDiskImages ?? [];
  const diskSources = [os, ...data].filter((d) => sourceOf(d?.source));
  if (top && diskSources.length > 0) {
    throw new ValidationError(
      "InvalidParameter",
      "The gallery artifact version source can only be specified either directly under storageProfile or within individual OS or data disks. One and only one source type (user image, snapshot, disk, virtual machine) can be provided.",
      "properties.storageProfile.source",
    );
  }
  if (!top && !sourceOf(os?.source) && data.every((d) => !sourceOf(d.source))) {
    throw new ValidationError(
      "InvalidParameter",
      "A source is required: give properties.storageProfile.source.id (an image version) or a source for the OS or data disk images (a disk, a snapshot, or a VHD uri with its storageAccountId).",
      "properties.storageProfile",
    );
  }
  const luns = new Set<number>();
  for (const [i, d] of data.entries()) {
    if (luns.has(d.lun!)) {
      throw new ValidationError(
        "InvalidParameter",
        "Duplicated lun numbers have been detected in the input data disks. Lun number must be unique for each data disk.",
        `properties.storageProfile.dataDiskImages[${i}].lun`,
      );
    }
    luns.add(d.lun!);
    if (!top && !sourceOf(d.source)) {
      throw new ValidationError(
        "InvalidParameter",
        `Data disk image with lun ${d.lun} has no source.`,
        `properties.storageProfile.dataDiskImages[${i}].source`,
      );
    }
  }
  const diskSource = (s: DiskImageSource | undefined, target: string) => {
    const given = sourceOf(s);
    if (!given) return undefined;
    if (given.uri !== undefined && given.storageAccountId === undefined) {
      throw new ValidationError(
        "InvalidParameter",
        "A VHD source needs the id of the storage account that holds it: give source.storageAccountId with source.uri.",
        `${target}.storageAccountId`,
      );
    }
    if (given.uri !== undefined && given.id !== undefined) {
      throw new ValidationError(
        "InvalidParameter",
        "A disk image source is either a VHD (uri and storageAccountId) or a disk or snapshot (id), not both.",
        target,
      );
    }
    return given.uri !== undefined
      ? { uri: given.uri, storageAccountId: given.storageAccountId }
      : { id: given.id };
  };
  return dropUndefined({
    source: top,
    osDiskImage:
      os || !top
        ? dropUndefined({
            hostCaching: os?.hostCaching ?? "ReadWrite",
            source: diskSource(os?.source, "properties.storageProfile.osDiskImage.source"),
          })
        : undefined,
    dataDiskImages:
      data.length > 0
        ? data.map((d, i) =>
            dropUndefined({
              lun: d.lun,
              hostCaching: d.hostCaching ?? "ReadOnly",
              source: diskSource(d.source, `properties.storageProfile.dataDiskImages[${i}].source`),
            }),
          )
        : undefined,
  }) as StorageProfile;
}

function safetyProfileOf(input: Properties | undefined, previous?: Properties) {
  const s = (input ?? {}) as Record<string, unknown>;
  return dropUndefined({
    reportedForPolicyViolation: false,
    allowDeletionOfReplicatedLocations:
      (s.allowDeletionOfReplicatedLocations as boolean | undefined) ??
      (previous?.allowDeletionOfReplicatedLocations as boolean | undefined) ??
      false,
    blockDeletionBeforeEndOfLife:
      (s.blockDeletionBeforeEndOfLife as boolean | undefined) ??
      (previous?.blockDeletionBeforeEndOfLife as boolean | undefined),
  });
}

/** Names a replace must keep: what the storage profile's sources were, per disk. */
function refuseSourceChanges(before: StorageProfile, after: StorageProfile | undefined) {
  if (!after) return;
  refuseChange(
    "galleryImageVersion.properties.storageProfile.source.id",
    before.source?.id,
    after.source?.id,
  );
  const os = after.osDiskImage?.source;
  if (os && (os.id !== undefined || os.uri !== undefined)) {
    refuseChange(
      "galleryImageVersion.properties.storageProfile.osDiskImage.source.id",
      before.osDiskImage?.source?.uri ?? before.osDiskImage?.source?.id,
      os.uri ?? os.id,
    );
  }
  if (after.dataDiskImages) {
    const luns = (d: DiskImage[] | undefined) => (d ?? []).map((x) => x.lun).join(",");
    if (luns(after.dataDiskImages) !== luns(before.dataDiskImages)) {
      throw new ConflictError(
        "PropertyChangeNotAllowed",
        "Adding new Data Disks or changing the LUN of a Data Disk in an existing Image is not allowed.",
        "properties.storageProfile.dataDiskImages",
      );
    }
  }
}

export function imageVersionRules(regions: RegionCatalog, limit: number): KindRules {
  return {
    type: TYPES.imageVersion,
    nameParameter: "galleryImageVersionName",
    parentParameter: "galleryImageName",
    checkName: checkVersionName,
    create: (input, ctx) => {
      const home = ctx.location;
      const publishingProfile = publishingProfileOf(
        input.publishingProfile as Properties,
        home,
        regions,
        ctx,
      );
      return dropUndefined({
        publishingProfile,
        storageProfile: storageProfileOf(input.storageProfile as Properties),
        safetyProfile: safetyProfileOf(input.safetyProfile as Properties),
        securityProfile: input.securityProfile,
      });
    },
    replace: (existing, input, ctx) => replaceVersion(existing, input, ctx, regions),
    quota: { limit, noun: "Gallery Image Versions" },
  };
}

function replaceVersion(
  existing: ResourceRecord,
  input: Properties,
  ctx: WriteContext,
  regions: RegionCatalog,
): Properties {
  const before = existing.properties;
  const prevPublishing = before.publishingProfile as PublishingProfile;
  const p = (input.publishingProfile ?? {}) as Record<string, unknown>;
  refuseChange(
    "galleryImageVersion.properties.publishingProfile.storageAccountType",
    prevPublishing.storageAccountType,
    p.storageAccountType,
  );
  refuseChange(
    "galleryImageVersion.properties.publishingProfile.replicationMode",
    prevPublishing.replicationMode ?? "Full",
    p.replicationMode,
  );
  refuseSourceChanges(
    before.storageProfile as StorageProfile,
    input.storageProfile as StorageProfile,
  );
  const publishingProfile = publishingProfileOf(p, existing.location, regions, ctx, {
    ...prevPublishing,
    // Arrays are replaced, not merged, and a PUT that omits one drops it (SHAPES.md §5)...
    targetExtendedLocations: undefined,
    // ...but target regions omitted from a PUT stay as they were: a region is only ever removed
    // by naming the regions that remain.
  });
  const previousByRegion = new Map(
    prevPublishing.targetRegions.map((t) => [regions.find(t.name)!.name, t]),
  );
  for (const [i, t] of publishingProfile.targetRegions.entries()) {
    const was = previousByRegion.get(regions.find(t.name)!.name);
    if (was && was.storageAccountType !== t.storageAccountType) {
      throw new ConflictError(
        "PropertyChangeNotAllowed",
        `Changing property 'galleryImageVersion.properties.publishingProfile.targetRegions[${i}].storageAccountType' is not allowed.`,
        `properties.publishingProfile.targetRegions[${i}].storageAccountType`,
      );
    }
  }
  const safetyProfile = safetyProfileOf(
    input.safetyProfile as Properties,
    before.safetyProfile as Properties,
  );
  const remaining = new Set(publishingProfile.targetRegions.map((t) => regions.find(t.name)!.name));
  const removed = [...previousByRegion.keys()].filter((r) => !remaining.has(r));
  if (removed.length > 0 && !safetyProfile.allowDeletionOfReplicatedLocations) {
    throw new ValidationError(
      "OperationNotAllowed",
      `Removing replicated regions (${removed.join(", ")}) from an image version is not allowed while safetyProfile.allowDeletionOfReplicatedLocations is false. Set it to true in the same request to remove them.`,
      "properties.safetyProfile.allowDeletionOfReplicatedLocations",
    );
  }
  return dropUndefined({
    ...before,
    publishingProfile,
    safetyProfile,
    securityProfile: input.securityProfile ?? before.securityProfile,
  });
}

/** The replicas a publishing profile asks for, region by region. */
export function plannedReplicas(profile: PublishingProfile, regions: RegionCatalog) {
  return profile.targetRegions.map((t) => ({
    region: regions.find(t.name)!.name,
    count: t.regionalReplicaCount,
    storageAccountType: t.storageAccountType,
  }));
}

/** Whether `latest` may pick this version in `region` (regional flag overrides the version's). */
export function excludedFromLatest(
  profile: PublishingProfile,
  region: string,
  regions: RegionCatalog,
) {
  const regional = profile.targetRegions.find((t) => regions.find(t.name)?.name === region);
  return regional?.excludeFromLatest ?? profile.excludeFromLatest;
}
