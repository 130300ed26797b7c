/**
 * What image and application versions share: Major.Minor.Patch names, the publishing profile's
 * target regions with Azure's defaults and echo rules (az-recordings SHAPES.md §5 and §9), what a
 * replace may change in it, and the contents a version stores — each content one manifest per
 * storage location, replicated by `replication/`. An image version's contents are its disks (`os`,
 * `lun:N`), an application version's its package (`package`) and default configuration (`config`).
 */
import { ConflictError, ValidationError } from "../domain/errors.js";
import type { ResourceType } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord } from "../domain/resource.js";
import type { Properties, WriteContext } from "../domain/resource-service.js";
import { checkEndOfLife, dropUndefined, refuseChange } from "./rules.js";

const INT32_MAX = 2 ** 31 - 1;
export const MAX_REPLICAS_PER_VERSION = 100;
export const MAX_REPLICAS_PER_REGION = 50;

/** Which kind of version a rule speaks about, as Azure words it. */
export interface VersionNoun {
  type: ResourceType;
  /** "image version", "application version" */
  noun: string;
  /** How Azure prefixes the kind's properties in PropertyChangeNotAllowed: `galleryImageVersion`. */
  wireName: string;
}

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

/** Where one content of a version comes from: a stored content (disk, snapshot, version) or a URI. */
export type ContentSource =
  | { kind: "content"; key: string; target: string }
  | {
      kind: "uri";
      uri: string;
      target: string;
      /** How to read it: a fixed VHD in a page blob (the default), or any blob as it is. */
      format?: "vhd" | "file";
    };

/**
 * One content of a version, with what the worker needs to place its replicas. `disk` names it
 * (the key is kept under this name in stored versions): `os` or `lun:N` for an image version's
 * disks, `package` or `config` for an application version's files.
 */
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

export function checkVersionName(name: string, kind: VersionNoun, parameter: string) {
  if (!parseVersionName(name)) {
    throw new ValidationError(
      "InvalidParameter",
      `The ${kind.noun} name is invalid. The ${kind.noun} name should follow Major(int).Minor(int).Patch(int) format, for e.g: 1.0.0, 2018.12.1 etc.`,
      parameter,
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
export function publishingProfileOf(
  input: Properties | undefined,
  home: string,
  regions: RegionCatalog,
  ctx: WriteContext,
  kind: VersionNoun,
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
    const region = regions.require(t.name, kind.type, `${target}.name`);
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
      `Gallery ${kind.noun} publishing profile regions '${names}' must contain the location of ${kind.noun} '${home}'.`,
      "properties.publishingProfile.targetRegions",
    );
  }
  if (total > MAX_REPLICAS_PER_VERSION) {
    throw new ValidationError(
      "InvalidParameter",
      `The ${kind.noun} asks for ${total} replicas in all; at most ${MAX_REPLICAS_PER_VERSION} are allowed per ${kind.noun}.`,
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

/** A replace may not change the storage account type or the replication mode of a version. */
function refusePublishingChanges(
  before: PublishingProfile,
  p: Record<string, unknown>,
  kind: VersionNoun,
) {
  refuseChange(
    `${kind.wireName}.properties.publishingProfile.storageAccountType`,
    before.storageAccountType,
    p.storageAccountType,
  );
  refuseChange(
    `${kind.wireName}.properties.publishingProfile.replicationMode`,
    before.replicationMode ?? "Full",
    p.replicationMode,
  );
}

/**
 * The publishing profile after a replace (a PUT over an existing version of either kind): the
 * storage account type and replication mode may not change; what the request omits is kept,
 * except `targetExtendedLocations` (arrays are replaced, and a PUT that omits one drops it,
 * SHAPES.md §5); a region that stays keeps its storage account type; and regions the request
 * drops are dropped only where the new safety profile allows it.
 */
export function replacedPublishingProfile(
  existing: ResourceRecord,
  p: Record<string, unknown>,
  ctx: WriteContext,
  regions: RegionCatalog,
  kind: VersionNoun,
  allowDeletionOfReplicatedLocations: boolean,
): PublishingProfile {
  const prevPublishing = existing.properties.publishingProfile as PublishingProfile;
  refusePublishingChanges(prevPublishing, p, kind);
  const publishingProfile = publishingProfileOf(p, existing.location, regions, ctx, kind, {
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
        `Changing property '${kind.wireName}.properties.publishingProfile.targetRegions[${i}].storageAccountType' is not allowed.`,
        `properties.publishingProfile.targetRegions[${i}].storageAccountType`,
      );
    }
  }
  refuseRegionRemoval(
    prevPublishing,
    publishingProfile,
    allowDeletionOfReplicatedLocations,
    regions,
    kind,
  );
  return publishingProfile;
}

/** Regions a replace drops are only dropped when the safety profile allows it. */
function refuseRegionRemoval(
  before: PublishingProfile,
  after: PublishingProfile,
  allowDeletionOfReplicatedLocations: boolean,
  regions: RegionCatalog,
  kind: VersionNoun,
) {
  const remaining = new Set(after.targetRegions.map((t) => regions.find(t.name)!.name));
  const removed = before.targetRegions
    .map((t) => regions.find(t.name)!.name)
    .filter((r) => !remaining.has(r));
  if (removed.length > 0 && !allowDeletionOfReplicatedLocations) {
    throw new ValidationError(
      "OperationNotAllowed",
      `Removing replicated regions (${removed.join(", ")}) from an ${kind.noun} is not allowed while safetyProfile.allowDeletionOfReplicatedLocations is false. Set it to true in the same request to remove them.`,
      "properties.safetyProfile.allowDeletionOfReplicatedLocations",
    );
  }
}

/** The replicas a publishing profile asks for, region by region. */
export function plannedReplicas(profile: PublishingProfile, regions: RegionCatalog) {
  return profile.targetRegions.map((t) => ({
    region: regions.find(t.name)!.name,
    count: t.regionalReplicaCount,
    storageAccountType: t.storageAccountType,
  }));
}
