/**
 * Gallery image versions on their ARM paths (the verbs are `versions.ts`'s): `$expand` takes
 * ReplicationStatus, UefiSettings (nothing to show) and ValidationProfile, and a VHD source is
 * answered in the shape of the api-version asked.
 */
import type { FastifyInstance } from "fastify";
import type { Store } from "../../domain/resource.js";
import type { DiskImage, StorageProfile } from "../../gallery/image-versions.js";
import type { ImageVersionService } from "../../gallery/version-service.js";
import { TrackedPatch, TrackedPut } from "../schemas/common.js";
import { ImageVersionPatchProperties, ImageVersionProperties } from "../schemas/image-version.js";
import { versionRoutes } from "./versions.js";

const VERSIONS =
  "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.Compute/galleries/:galleryName/images/:galleryImageName/versions";

/**
 * Until 2023-07-03 a VHD source came back as `{uri, id}` with the storage account in `id`
 * (az-recordings, api-version 2022-03-03); later versions answer `{storageAccountId, uri}`.
 */
const STORAGE_ACCOUNT_ID_FROM = "2023-07-03";

function vhdSourceShape(properties: Record<string, unknown>, apiVersion: string) {
  const sp = properties.storageProfile as StorageProfile | undefined;
  if (!sp) return properties;
  const shape = (d: DiskImage): DiskImage => {
    const s = d.source;
    if (s?.uri === undefined) return d;
    const source =
      apiVersion >= STORAGE_ACCOUNT_ID_FROM
        ? { storageAccountId: s.storageAccountId, uri: s.uri }
        : { uri: s.uri, id: s.storageAccountId };
    return { ...d, source };
  };
  return {
    ...properties,
    storageProfile: {
      ...sp,
      ...(sp.osDiskImage ? { osDiskImage: shape(sp.osDiskImage) } : {}),
      ...(sp.dataDiskImages ? { dataDiskImages: sp.dataDiskImages.map(shape) } : {}),
    },
  };
}

const VERSION_ORDER = [
  "publishingProfile",
  "storageProfile",
  "safetyProfile",
  "securityProfile",
  "replicationStatus",
  "validationsProfile",
  "provisioningState",
];

export function imageVersionRoutes(
  app: FastifyInstance,
  deps: { store: Store; versions: ImageVersionService },
) {
  versionRoutes(app, deps, {
    service: deps.versions,
    collection: VERSIONS,
    itemParam: "galleryImageVersionName",
    parentParams: ["galleryName", "galleryImageName"],
    armType: "galleries/images/versions",
    putSchema: TrackedPut(ImageVersionProperties, true),
    patchSchema: TrackedPatch(ImageVersionPatchProperties),
    propertyOrder: VERSION_ORDER,
    expand: {
      ReplicationStatus: "replicationStatus",
      UefiSettings: null,
      ValidationProfile: { property: "validationsProfile" },
    },
    shape: vhdSourceShape,
  });
}
