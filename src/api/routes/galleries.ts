/** Galleries, image definitions and gallery applications on their ARM paths. */
import type { FastifyInstance } from "fastify";
import type { Store } from "../../domain/resource.js";
import type { ResourceService } from "../../domain/resource-service.js";
import { pageRequest, sendPage } from "../arm/paging.js";
import { renderResource } from "../arm/render.js";
import { shapeRecord } from "../arm/version-shapes.js";
import { TrackedPatch, TrackedPut } from "../schemas/common.js";
import {
  ApplicationPatchProperties,
  ApplicationProperties,
  GalleryProperties,
  ImageDefinitionPatchProperties,
  ImageDefinitionProperties,
} from "../schemas/gallery.js";
import { trackedRoutes } from "./tracked.js";

const GROUP = "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName";
const GALLERIES = `${GROUP}/providers/Microsoft.Compute/galleries`;
const GALLERY = `${GALLERIES}/:galleryName`;

const GALLERY_ORDER = [
  "description",
  "identifier",
  "sharingProfile",
  "provisioningState",
  "softDeletePolicy",
];
const IMAGE_ORDER = [
  "description",
  "eula",
  "privacyStatementUri",
  "releaseNoteUri",
  "hyperVGeneration",
  "architecture",
  "osType",
  "osState",
  "endOfLifeDate",
  "identifier",
  "recommended",
  "disallowed",
  "purchasePlan",
  "features",
  "allowUpdateImage",
  "provisioningState",
];
// Azure answers supportedOSType before description (az recording test_gallery_application#12).
const APPLICATION_ORDER = [
  "supportedOSType",
  "description",
  "eula",
  "privacyStatementUri",
  "releaseNoteUri",
  "endOfLifeDate",
  "customActions",
];

export interface GalleryServices {
  galleries: ResourceService;
  images: ResourceService;
  applications: ResourceService;
}

export function galleryRoutes(app: FastifyInstance, deps: { store: Store } & GalleryServices) {
  trackedRoutes(app, deps.store, {
    service: deps.galleries,
    collection: GALLERIES,
    itemParam: "galleryName",
    parentParams: [],
    armType: "galleries",
    family: "gallery",
    putSchema: TrackedPut(GalleryProperties, false),
    patchSchema: TrackedPatch(GalleryProperties),
    propertyOrder: GALLERY_ORDER,
    longRunning: true,
  });
  trackedRoutes(app, deps.store, {
    service: deps.images,
    collection: `${GALLERY}/images`,
    itemParam: "galleryImageName",
    parentParams: ["galleryName"],
    armType: "galleries/images",
    family: "gallery",
    putSchema: TrackedPut(ImageDefinitionProperties, true),
    patchSchema: TrackedPatch(ImageDefinitionPatchProperties),
    propertyOrder: IMAGE_ORDER,
    longRunning: true,
  });
  trackedRoutes(app, deps.store, {
    service: deps.applications,
    collection: `${GALLERY}/applications`,
    itemParam: "galleryApplicationName",
    parentParams: ["galleryName"],
    armType: "galleries/applications",
    family: "gallery",
    putSchema: TrackedPut(ApplicationProperties, true),
    patchSchema: TrackedPatch(ApplicationPatchProperties),
    propertyOrder: APPLICATION_ORDER,
    longRunning: false,
  });

  app.get(
    "/subscriptions/:subscriptionId/providers/Microsoft.Compute/galleries",
    { config: { arm: { family: "gallery", resourceType: "galleries" } } },
    async (request, reply) => {
      const { subscriptionId } = request.params as { subscriptionId: string };
      const page = await deps.galleries.listBySubscription(subscriptionId, pageRequest(request));
      return sendPage(request, reply, page, (r) =>
        renderResource(shapeRecord("galleries", request.armApiVersion, r), {
          apiVersion: request.armApiVersion,
          provisioningState: "Succeeded",
          propertyOrder: GALLERY_ORDER,
        }),
      );
    },
  );
}
