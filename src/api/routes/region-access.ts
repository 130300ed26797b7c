/**
 * The operator API for restricted regions (`Microsoft.Ocg`, this server's own provider): which
 * subscriptions may deploy in a region marked `restricted` in the configuration, as Azure's region
 * access request process decides. Only the admin principal of credentials.json may call it; the
 * `ocg region-access` command is its client.
 *
 *   GET    /providers/Microsoft.Ocg/regionAccess                                  every grant
 *   GET    /providers/Microsoft.Ocg/regionAccess/{region}/subscriptions           a region's grants
 *   PUT    /providers/Microsoft.Ocg/regionAccess/{region}/subscriptions/{id}      grant (201, 200)
 *   GET    /providers/Microsoft.Ocg/regionAccess/{region}/subscriptions/{id}      one grant (or 404)
 *   DELETE /providers/Microsoft.Ocg/regionAccess/{region}/subscriptions/{id}      revoke (200, 204)
 *
 * All take `api-version=2026-01-01`. Revoking stops new resources in the region; the existing
 * ones stay, as they do in Azure when access ends.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { isGuid } from "../../domain/ids.js";
import type { Region, RegionCatalog } from "../../domain/regions.js";
import type { RegionAccessRecord, Store } from "../../domain/resource.js";
import { requireAdmin as requireAdminOf } from "../admin.js";
import { ArmError } from "../arm/errors.js";

const BASE = "/providers/Microsoft.Ocg/regionAccess";
const config = { arm: { family: "ocg" as const, resourceType: "regionAccess" } };

export function renderRegionAccess(r: RegionAccessRecord) {
  return {
    id: `${BASE}/${r.region}/subscriptions/${r.subscriptionId}`,
    name: r.subscriptionId,
    type: "Microsoft.Ocg/regionAccess/subscriptions",
    properties: {
      region: r.region,
      subscriptionId: r.subscriptionId,
      grantedAt: r.grantedAt,
      grantedBy: r.grantedBy,
    },
  };
}

export function regionAccessRoutes(
  app: FastifyInstance,
  deps: { store: Store; regions: RegionCatalog },
) {
  const { store, regions } = deps;

  const requireAdmin = (request: FastifyRequest, action: "read" | "write" | "delete") =>
    requireAdminOf(
      request,
      `Microsoft.Ocg/regionAccess/${action}`,
      "Only the server's admin principal (credentials.json) manages region access.",
    );

  function regionOf(request: FastifyRequest): Region {
    const { region } = request.params as { region: string };
    const found = regions.find(region);
    if (!found) {
      throw new ArmError(
        400,
        "InvalidParameter",
        `The region '${region}' is not served here. Regions: '${regions.regions.map((r) => r.name).join(",")}'.`,
        "region",
      );
    }
    return found;
  }

  function subscriptionOf(request: FastifyRequest): string {
    const { subscription } = request.params as { subscription: string };
    if (!isGuid(subscription)) {
      throw new ArmError(
        400,
        "InvalidSubscriptionId",
        `The provided subscription identifier '${subscription.slice(0, 64)}' is malformed or invalid.`,
        "subscriptionId",
      );
    }
    return subscription.toLowerCase();
  }

  const notGranted = (region: string, subscriptionId: string) =>
    new ArmError(
      404,
      "RegionAccessNotFound",
      `Subscription '${subscriptionId}' has no access to region '${region}'.`,
    );

  app.get(BASE, { config }, async (request) => {
    requireAdmin(request, "read");
    return { value: (await store.regionAccess.list()).map(renderRegionAccess) };
  });

  app.get(`${BASE}/:region/subscriptions`, { config }, async (request) => {
    requireAdmin(request, "read");
    const region = regionOf(request);
    return {
      value: (await store.regionAccess.list({ region: region.name })).map(renderRegionAccess),
    };
  });

  const item = `${BASE}/:region/subscriptions/:subscription`;

  app.put(item, { config }, async (request, reply) => {
    requireAdmin(request, "write");
    const region = regionOf(request);
    const subscriptionId = subscriptionOf(request);
    if (!region.restricted) {
      throw new ArmError(
        400,
        "InvalidParameter",
        `The region '${region.name}' is not restricted: every subscription may deploy in it. Mark it "restricted": true in the configuration to require access grants.`,
        "region",
      );
    }
    if (!(await store.identity.getSubscription(subscriptionId))) {
      throw new ArmError(
        404,
        "SubscriptionNotFound",
        `The subscription '${subscriptionId}' could not be found.`,
        "subscriptionId",
      );
    }
    const { record, created } = await store.regionAccess.grant({
      region: region.name,
      subscriptionId,
      grantedAt: new Date().toISOString(),
      grantedBy: request.armClaims!.appId,
    });
    return reply.code(created ? 201 : 200).send(renderRegionAccess(record));
  });

  app.get(item, { config }, async (request) => {
    requireAdmin(request, "read");
    const region = regionOf(request);
    const subscriptionId = subscriptionOf(request);
    const record = await store.regionAccess.get(subscriptionId, region.name);
    if (!record) throw notGranted(region.name, subscriptionId);
    return renderRegionAccess(record);
  });

  app.delete(item, { config }, async (request, reply) => {
    requireAdmin(request, "delete");
    const region = regionOf(request);
    const subscriptionId = subscriptionOf(request);
    const revoked = await store.regionAccess.revoke(subscriptionId, region.name);
    return reply.code(revoked ? 200 : 204).send();
  });
}
