/**
 * Image versions: names, the publishing profile with Azure's defaults and echo rules (recorded in
 * az-recordings/SHAPES.md §5), the storage profile's sources, the safety profile, and what a
 * replace may change. Replicas and their jobs are planned here and run by `replication/`; what
 * image and application versions share is in `versions.ts`.
 */
import { ConflictError, ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord } from "../domain/resource.js";
import type { KindRules, Properties, WriteContext } from "../domain/resource-service.js";
import { dropUndefined, refuseChange } from "./rules.js";
import {
  checkVersionName,
  publishingProfileOf,
  replacedPublishingProfile,
  type PublishingProfile,
  type VersionNoun,
} from "./versions.js";

export {
  compareVersionNames,
  contentKeyOf,
  MAX_REPLICAS_PER_REGION,
  MAX_REPLICAS_PER_VERSION,
  parseVersionName,
  plannedReplicas,
  versionContentsOf,
  versionStateOf,
  type ContentSource,
  type PublishingProfile,
  type TargetRegion,
  type VersionContent,
  type VersionInternals,
  type VersionState,
} from "./versions.js";

const GiB = 1024 ** 3;
/** Largest source per replication mode (Azure: Full up to 2 TB, Shallow up to 32 TB). */
export const MAX_SOURCE_BYTES = { Full: 2 * 1024 * GiB, Shallow: 32 * 1024 * GiB } as const;

export const IMAGE_VERSION: VersionNoun = {
  type: TYPES.imageVersion,
  noun: "image version",
  wireName: "galleryImageVersion",
};

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
    checkName: (name) => checkVersionName(name, IMAGE_VERSION, "galleryImageVersionName"),
    create: (input, ctx) => {
      const home = ctx.location;
      const publishingProfile = publishingProfileOf(
        input.publishingProfile as Properties,
        home,
        regions,
        ctx,
        IMAGE_VERSION,
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
  const safetyProfile = safetyProfileOf(
    input.safetyProfile as Properties,
    before.safetyProfile as Properties,
  );
  const publishingProfile = replacedPublishingProfile(
    existing,
    (input.publishingProfile ?? {}) as Record<string, unknown>,
    ctx,
    regions,
    IMAGE_VERSION,
    safetyProfile.allowDeletionOfReplicatedLocations,
  );
  refuseSourceChanges(
    before.storageProfile as StorageProfile,
    input.storageProfile as StorageProfile,
  );
  return dropUndefined({
    ...before,
    publishingProfile,
    safetyProfile,
    securityProfile: input.securityProfile ?? before.securityProfile,
  });
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
