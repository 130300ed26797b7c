/**
 * Microsoft.Resources surface that clients need around galleries: subscriptions and tenants of the
 * caller, the regions of a subscription, and the cloud's endpoint metadata.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { RegionCatalog } from "../../domain/regions.js";
import type { Store, SubscriptionRecord } from "../../domain/resource.js";
import { ArmError } from "../arm/errors.js";
import { baseUrlOf } from "../arm/lro.js";

const subscriptionsConfig = {
  arm: { family: "subscriptions" as const, resourceType: "subscriptions" },
};

function renderSubscription(s: SubscriptionRecord) {
  return {
    id: `/subscriptions/${s.id}`,
    authorizationSource: "RoleBased",
    managedByTenants: [],
    subscriptionId: s.id,
    tenantId: s.tenantId,
    displayName: s.displayName,
    state: s.state,
    subscriptionPolicies: {
      locationPlacementId: "Public_2014-09-01",
      quotaId: "PayAsYouGo_2014-09-01",
      spendingLimit: "Off",
    },
  };
}

function cloudMetadata(request: FastifyRequest) {
  const base = baseUrlOf(request);
  const audiences = [
    "https://management.core.windows.net/",
    "https://management.azure.com/",
    `${base}/`,
  ];
  const apiVersion = String((request.query as Record<string, unknown>)["api-version"] ?? "");
  if (apiVersion >= "2022-09-01") {
    return [
      {
        portal: base,
        authentication: {
          loginEndpoint: `${base}/adfs`,
          audiences,
          tenant: "adfs",
          identityProvider: "ADFS",
        },
        media: base,
        graphAudience: "https://graph.windows.net/",
        graph: "https://graph.windows.net/",
        name: "ocg",
        suffixes: { storage: "core.windows.net" },
        resourceManager: `${base}/`,
        gallery: base,
      },
    ];
  }
  return {
    galleryEndpoint: base,
    graphEndpoint: "https://graph.windows.net/",
    portalEndpoint: base,
    authentication: { loginEndpoint: `${base}/adfs`, audiences },
  };
}

export function subscriptionRoutes(
  app: FastifyInstance,
  deps: { store: Store; regions: RegionCatalog },
) {
  app.get("/subscriptions", { config: subscriptionsConfig }, async (request) => {
    const subs = await deps.store.identity.listSubscriptions([request.armClaims!.tenantId]);
    return { value: subs.map(renderSubscription), count: { type: "Total", value: subs.length } };
  });

  app.get("/subscriptions/:subscriptionId", { config: subscriptionsConfig }, async (request) => {
    const { subscriptionId } = request.params as { subscriptionId: string };
    const sub = await deps.store.identity.getSubscription(subscriptionId);
    if (!sub)
      throw new ArmError(
        404,
        "SubscriptionNotFound",
        `The subscription '${subscriptionId}' could not be found.`,
      );
    return renderSubscription(sub);
  });

  app.get(
    "/tenants",
    { config: { arm: { family: "subscriptions", resourceType: "tenants" } } },
    async (request) => {
      const tenants = await deps.store.identity.listTenants();
      const mine = tenants.filter((t) => t.id === request.armClaims!.tenantId);
      return {
        value: mine.map((t) => ({
          id: `/tenants/${t.id}`,
          tenantId: t.id,
          tenantCategory: "Home",
          displayName: t.displayName,
          defaultDomain: "ocg.local",
          tenantType: "AAD",
        })),
      };
    },
  );

  app.get(
    "/subscriptions/:subscriptionId/locations",
    { config: { arm: { family: "subscriptions", resourceType: "locations" } } },
    async (request) => {
      const { subscriptionId } = request.params as { subscriptionId: string };
      // Every region, restricted ones included (Azure hides those a subscription may not use).
      return {
        value: deps.regions.regions.map((r) => ({
          id: `/subscriptions/${subscriptionId}/locations/${r.name}`,
          name: r.name,
          type: "Region",
          displayName: r.displayName,
          regionalDisplayName: r.displayName,
          metadata: { regionType: "Physical", regionCategory: "Recommended" },
          // From 2022-12-01 ARM maps each logical zone of the subscription to a physical one.
          ...(request.armApiVersion >= "2022-12-01" && r.zones.length > 0
            ? {
                availabilityZoneMappings: r.zones.map((z) => ({
                  logicalZone: z,
                  physicalZone: `${r.name}-az${z}`,
                })),
              }
            : {}),
        })),
      };
    },
  );

  app.get("/metadata/endpoints", async (request) => cloudMetadata(request));
}
