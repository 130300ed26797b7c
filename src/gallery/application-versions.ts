/**
 * Gallery application versions: names, the publishing profile with Azure's defaults and echo rules
 * (az-recordings SHAPES.md §9 and checklist item 40; GalleryRP 2026-03-03
 * GalleryApplicationVersionPublishingProfile), the safety profile, and what a replace may change.
 * The package (`source.mediaLink`) and its default configuration (`source.defaultConfigurationLink`)
 * are the version's contents, stored and replicated as an image version's disks are.
 */
import { ConflictError, ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord } from "../domain/resource.js";
import type { KindRules, Properties, WriteContext } from "../domain/resource-service.js";
import { checkCustomActions } from "./applications.js";
import { dropUndefined } from "./rules.js";
import {
  checkVersionName,
  publishingProfileOf,
  replacedPublishingProfile,
  type PublishingProfile,
  type VersionNoun,
} from "./versions.js";

export const APPLICATION_VERSION: VersionNoun = {
  type: TYPES.applicationVersion,
  noun: "application version",
  wireName: "galleryApplicationVersion",
};

export const SOURCE_TARGET = "properties.publishingProfile.source";

/**
 * `publishingProfile.source` as stored and shown. The two digests are ocg's (docs/deviations.md):
 * the SHA-256 of each file as stored, filled in once the version has replicated.
 */
export interface UserArtifactSource {
  mediaLink: string;
  defaultConfigurationLink?: string;
  mediaLinkSha256?: string;
  defaultConfigurationLinkSha256?: string;
}

export interface ApplicationPublishingProfile extends PublishingProfile {
  source: UserArtifactSource;
  manageActions?: Properties;
  settings?: Properties;
  advancedSettings?: Record<string, string>;
  enableHealthCheck: boolean;
  customActions?: { name: string }[];
}

/** The files of an application version: content name, the link it comes from, its digest. */
export const APPLICATION_FILES = [
  { content: "package", link: "mediaLink", digest: "mediaLinkSha256" },
  { content: "config", link: "defaultConfigurationLink", digest: "defaultConfigurationLinkSha256" },
] as const;

/** A link without its query: the blob it names, whatever SAS it carries. */
const blobOf = (link: string | undefined) => (link ?? "").split(/[?#]/, 1)[0];

/**
 * The source of a new version, or after a replace: the files are fixed once the version exists.
 * A link may be given again with another SAS (the same blob); naming another blob is refused.
 */
function sourceOf(input: unknown, previous?: UserArtifactSource): UserArtifactSource {
  const s = (input ?? {}) as Partial<UserArtifactSource>;
  if (previous) {
    for (const { link } of APPLICATION_FILES) {
      const given = s[link];
      if (given !== undefined && blobOf(given) !== blobOf(previous[link])) {
        throw new ConflictError(
          "PropertyChangeNotAllowed",
          `Changing property '${APPLICATION_VERSION.wireName}.properties.publishingProfile.source.${link}' is not allowed.`,
          `${SOURCE_TARGET}.${link}`,
        );
      }
    }
  }
  const mediaLink = s.mediaLink ?? previous?.mediaLink;
  if (!mediaLink) {
    throw new ValidationError(
      "InvalidParameter",
      `Required parameter '${SOURCE_TARGET}.mediaLink' is missing (null).`,
      `${SOURCE_TARGET}.mediaLink`,
    );
  }
  return dropUndefined({
    mediaLink,
    defaultConfigurationLink: s.defaultConfigurationLink ?? previous?.defaultConfigurationLink,
    mediaLinkSha256: previous?.mediaLinkSha256,
    defaultConfigurationLinkSha256: previous?.defaultConfigurationLinkSha256,
  });
}

/**
 * The application's own part of the publishing profile around the shared one, in Azure's key
 * order (test_gallery_application_version#11: source, manageActions, settings, enableHealthCheck,
 * then the target regions...; customActions last, as the spec examples show it). What a replace
 * omits is kept: the recorded update PUT sent only `source.mediaLink` and Azure kept
 * `manageActions` and `settings` (#26).
 */
function applicationProfileOf(
  p: Record<string, unknown>,
  base: PublishingProfile,
  previous?: ApplicationPublishingProfile,
): ApplicationPublishingProfile {
  checkCustomActions(
    p.customActions as { name: string }[] | undefined,
    "properties.publishingProfile.customActions",
  );
  return dropUndefined({
    source: sourceOf(p.source, previous?.source),
    manageActions: (p.manageActions as Properties | undefined) ?? previous?.manageActions,
    settings: (p.settings as Properties | undefined) ?? previous?.settings,
    advancedSettings:
      (p.advancedSettings as Record<string, string> | undefined) ?? previous?.advancedSettings,
    enableHealthCheck:
      (p.enableHealthCheck as boolean | undefined) ?? previous?.enableHealthCheck ?? false,
    ...base,
    customActions: (p.customActions as { name: string }[] | undefined) ?? previous?.customActions,
  }) as ApplicationPublishingProfile;
}

/**
 * Shown only when given (an application version recorded without one has none, SHAPES.md §9); the
 * spec's GalleryApplicationVersionSafetyProfile has `allowDeletionOfReplicatedLocations` only.
 */
function safetyProfileOf(input: unknown, previous?: Properties) {
  if (input === undefined && previous === undefined) return undefined;
  const s = (input ?? {}) as Properties;
  return {
    allowDeletionOfReplicatedLocations:
      (s.allowDeletionOfReplicatedLocations as boolean | undefined) ??
      (previous?.allowDeletionOfReplicatedLocations as boolean | undefined) ??
      false,
  };
}

export function applicationVersionRules(regions: RegionCatalog): KindRules {
  return {
    type: TYPES.applicationVersion,
    nameParameter: "galleryApplicationVersionName",
    parentParameter: "galleryApplicationName",
    checkName: (name) =>
      checkVersionName(name, APPLICATION_VERSION, "galleryApplicationVersionName"),
    create: (input, ctx) => {
      const p = (input.publishingProfile ?? {}) as Record<string, unknown>;
      const base = publishingProfileOf(p, ctx.location, regions, ctx, APPLICATION_VERSION);
      return dropUndefined({
        publishingProfile: applicationProfileOf(p, base),
        safetyProfile: safetyProfileOf(input.safetyProfile),
      });
    },
    replace: (existing, input, ctx) => replaceVersion(existing, input, ctx, regions),
  };
}

function replaceVersion(
  existing: ResourceRecord,
  input: Properties,
  ctx: WriteContext,
  regions: RegionCatalog,
): Properties {
  const before = existing.properties;
  const p = (input.publishingProfile ?? {}) as Record<string, unknown>;
  const safetyProfile = safetyProfileOf(
    input.safetyProfile,
    before.safetyProfile as Properties | undefined,
  );
  const base = replacedPublishingProfile(
    existing,
    p,
    ctx,
    regions,
    APPLICATION_VERSION,
    safetyProfile?.allowDeletionOfReplicatedLocations ?? false,
  );
  const previous = before.publishingProfile as ApplicationPublishingProfile;
  const publishingProfile = applicationProfileOf(p, base, previous);
  return dropUndefined({ ...before, publishingProfile, safetyProfile });
}
