/**
 * Gatekeeper for every ARM route, in the order ARM checks: a valid bearer token, a supported
 * api-version, a subscription that exists and belongs to the token's tenant. Nothing reaches a
 * handler without all three.
 */
import type { FastifyRequest } from "fastify";
import type { Store, SubscriptionRecord } from "../domain/resource.js";
import type { TokenService } from "../identity/tokens.js";
import { resolveApiVersion } from "./arm/api-versions.js";
import { ArmError } from "./arm/errors.js";
import { isGuid } from "../domain/ids.js";

export function armGate(tokens: TokenService, store: Store, loose: boolean) {
  const subscriptions = new Map<string, SubscriptionRecord>();

  async function subscription(id: string) {
    const key = id.toLowerCase();
    let found = subscriptions.get(key);
    if (!found) {
      found = await store.identity.getSubscription(key);
      if (found) subscriptions.set(key, found);
    }
    return found;
  }

  return async function gate(request: FastifyRequest) {
    const arm = request.routeOptions.config.arm;
    if (!arm) return;
    const header = request.headers.authorization;
    if (!header) {
      throw new ArmError(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
      );
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new ArmError(
        401,
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
      );
    }
    const claims = await tokens.verify(match[1]!);
    request.armClaims = claims;
    const query = request.query as Record<string, string | string[] | undefined>;
    request.armApiVersion = resolveApiVersion(
      arm.family,
      query["api-version"],
      loose,
      arm.resourceType,
    );
    const subscriptionId = (request.params as Record<string, string | undefined>).subscriptionId;
    if (subscriptionId === undefined) return;
    if (!isGuid(subscriptionId)) {
      throw new ArmError(
        400,
        "InvalidSubscriptionId",
        `The provided subscription identifier '${subscriptionId.slice(0, 64)}' is malformed or invalid.`,
        "subscriptionId",
      );
    }
    const sub = await subscription(subscriptionId);
    if (!sub) {
      throw new ArmError(
        404,
        "SubscriptionNotFound",
        `The subscription '${subscriptionId}' could not be found.`,
        "subscriptionId",
      );
    }
    if (sub.tenantId !== claims.tenantId) {
      throw new ArmError(
        401,
        "InvalidAuthenticationTokenTenant",
        `The access token is from the wrong issuer '${tokens.issuerFor(claims.tenantId)}'. It must match the tenant '${tokens.issuerFor(sub.tenantId)}' associated with this subscription. Please use the authority (URL) '${request.server.ocgPublicUrl}/${sub.tenantId}' to get the token.`,
      );
    }
  };
}
