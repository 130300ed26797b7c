/**
 * Operator-only calls on this server's own provider (`Microsoft.Ocg`): only the admin principal of
 * credentials.json may make them; anyone else gets Azure's answer to a missing role.
 */
import type { FastifyRequest } from "fastify";
import { ArmError } from "./arm/errors.js";

export function requireAdmin(request: FastifyRequest, action: string, why: string) {
  const claims = request.armClaims!;
  const admin = request.server.ocgAdminClientId;
  if (admin !== "" && claims.appId.toLowerCase() === admin.toLowerCase()) return;
  throw new ArmError(
    403,
    "AuthorizationFailed",
    `The client '${claims.appId}' with object id '${claims.objectId}' does not have authorization to perform action '${action}' over scope '${request.url.split("?")[0]}' or the scope is invalid. ${why}`,
  );
}
