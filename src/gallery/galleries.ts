/**
 * Galleries. The unique name (`{subscription}-{NAME}`) is fixed at creation; sharing groups are
 * changed only through the share action, so a PUT keeps them; a community public name is minted
 * when a gallery becomes a community gallery.
 */
import { randomUUID } from "node:crypto";
import { ValidationError } from "../domain/errors.js";
import { TYPES } from "../domain/ids.js";
import type { KindRules, Properties } from "../domain/resource-service.js";
import { checkEntityName, dropUndefined, GALLERY_NAME } from "./rules.js";

type SharingProfile = {
  permissions?: string;
  groups?: unknown[];
  communityGalleryInfo?: Record<string, unknown>;
};

function sharing(input: Properties, previous?: SharingProfile): SharingProfile | undefined {
  const given = input.sharingProfile as SharingProfile | undefined;
  if (!given) return previous;
  const permissions = given.permissions ?? previous?.permissions ?? "Private";
  if (permissions !== "Community") {
    return dropUndefined({
      permissions,
      groups: permissions === "Groups" ? previous?.groups : undefined,
    });
  }
  const info = given.communityGalleryInfo;
  for (const field of ["publisherUri", "publisherContact", "eula", "publicNamePrefix"]) {
    if (typeof info?.[field] !== "string" || info[field] === "") {
      throw new ValidationError(
        "InvalidParameter",
        `Required parameter 'sharingProfile.communityGalleryInfo.${field}' is missing (null) for a community gallery.`,
        `properties.sharingProfile.communityGalleryInfo.${field}`,
      );
    }
  }
  const before = previous?.permissions === "Community" ? previous.communityGalleryInfo : undefined;
  const samePrefix = before?.publicNamePrefix === info!.publicNamePrefix;
  return {
    permissions,
    // In Azure's key order: the enabled flag comes first.
    communityGalleryInfo: {
      communityGalleryEnabled: before?.communityGalleryEnabled ?? false,
      publisherUri: info!.publisherUri,
      publisherContact: info!.publisherContact,
      eula: info!.eula,
      publicNamePrefix: info!.publicNamePrefix,
      publicNames:
        samePrefix && before?.publicNames
          ? before.publicNames
          : [`${info!.publicNamePrefix}-${randomUUID()}`],
    },
  };
}

function galleryProperties(input: Properties, uniqueName: string, previous?: Properties) {
  return dropUndefined({
    description: input.description as string | undefined,
    identifier: { uniqueName },
    sharingProfile: sharing(input, previous?.sharingProfile as SharingProfile | undefined),
    softDeletePolicy: input.softDeletePolicy ?? previous?.softDeletePolicy,
  });
}

export function galleryRules(limit: number): KindRules {
  return {
    type: TYPES.gallery,
    nameParameter: "galleryName",
    checkName: (name) => checkEntityName(name, "galleryName", GALLERY_NAME),
    create: (input, ctx) =>
      galleryProperties(input, `${ctx.path.subscriptionId}-${ctx.path.names[0]!.toUpperCase()}`),
    replace: (existing, input) =>
      galleryProperties(
        input,
        (existing.properties.identifier as { uniqueName: string }).uniqueName,
        existing.properties,
      ),
    quota: { limit, noun: "Galleries" },
  };
}
