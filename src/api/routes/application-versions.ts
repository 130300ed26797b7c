/**
 * Gallery application versions on their ARM paths (the verbs are `versions.ts`'s), as
 * test_gallery_application_version shows them: PUT 201/200 with `Azure-AsyncOperation`, GET,
 * list, DELETE 202 with both headers; `$expand` takes ReplicationStatus and UefiSettings (the
 * spec's ReplicationStatusTypes; the latter shows nothing).
 */
import type { FastifyInstance } from "fastify";
import type { Store } from "../../domain/resource.js";
import type { VersionService } from "../../gallery/version-lifecycle.js";
import { shapeFor } from "../arm/version-shapes.js";
import {
  ApplicationVersionPatchProperties,
  ApplicationVersionProperties,
} from "../schemas/application-version.js";
import { TrackedPatch, TrackedPut } from "../schemas/common.js";
import { versionRoutes } from "./versions.js";

const VERSIONS =
  "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.Compute/galleries/:galleryName/applications/:galleryApplicationName/versions";

const ARM_TYPE = "galleries/applications/versions";

/** test_gallery_application_version#11; the spec examples put safetyProfile after it. */
const VERSION_ORDER = [
  "publishingProfile",
  "safetyProfile",
  "replicationStatus",
  "provisioningState",
];

export function applicationVersionRoutes(
  app: FastifyInstance,
  deps: { store: Store; applicationVersions: VersionService },
) {
  versionRoutes(app, deps, {
    service: deps.applicationVersions,
    collection: VERSIONS,
    itemParam: "galleryApplicationVersionName",
    parentParams: ["galleryName", "galleryApplicationName"],
    armType: ARM_TYPE,
    putSchema: TrackedPut(ApplicationVersionProperties, true),
    patchSchema: TrackedPatch(ApplicationVersionPatchProperties),
    propertyOrder: VERSION_ORDER,
    expand: { ReplicationStatus: "replicationStatus", UefiSettings: null },
    shape: (properties, apiVersion) => shapeFor(ARM_TYPE, apiVersion, properties),
  });
}
