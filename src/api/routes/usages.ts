/** Gallery quota usage per subscription and region, in the Compute usages shape. */
import type { FastifyInstance } from "fastify";
import type { Config } from "../../config/config.js";
import { TYPES } from "../../domain/ids.js";
import type { RegionCatalog } from "../../domain/regions.js";
import type { Store } from "../../domain/resource.js";

export function usageRoutes(
  app: FastifyInstance,
  deps: { store: Store; regions: RegionCatalog; limits: Config["limits"] },
) {
  app.get(
    "/subscriptions/:subscriptionId/providers/Microsoft.Compute/locations/:location/usages",
    { config: { arm: { family: "compute", resourceType: "locations/usages" } } },
    async (request) => {
      const { subscriptionId, location } = request.params as {
        subscriptionId: string;
        location: string;
      };
      const region = deps.regions.require(location, "Microsoft.Compute/locations/usages");
      const counts = await deps.store.resources.countsInRegion(subscriptionId, region.name);
      const usage = (type: string, limit: number, value: string, localizedValue: string) => ({
        unit: "Count",
        currentValue: counts.get(type.toLowerCase()) ?? 0,
        limit,
        name: { value, localizedValue },
      });
      return {
        value: [
          usage(TYPES.gallery, deps.limits.galleriesPerRegion, "galleries", "Galleries"),
          usage(
            TYPES.image,
            deps.limits.imageDefinitionsPerRegion,
            "galleryImages",
            "Gallery Image Definitions",
          ),
          usage(
            "Microsoft.Compute/galleries/images/versions",
            deps.limits.imageVersionsPerRegion,
            "galleryImageVersions",
            "Gallery Image Versions",
          ),
        ],
      };
    },
  );
}
