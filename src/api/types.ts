/** What the api layer hangs on Fastify's request, reply and route config. */
import type { TokenClaims } from "../identity/tokens.js";
import type { ApiFamily } from "./arm/api-versions.js";

export interface ArmRouteConfig {
  family: ApiFamily;
  /** The ARM type named in api-version errors, e.g. `galleries`. */
  resourceType: string;
}

declare module "fastify" {
  interface FastifyInstance {
    ocgPublicUrl: string;
    ocgPageSize: number;
    /** Client id of the admin principal (credentials.json): the only one the operator API serves. */
    ocgAdminClientId: string;
  }
  interface FastifyRequest {
    armApiVersion: string;
    armClaims: TokenClaims | null;
  }
  interface FastifyContextConfig {
    arm?: ArmRouteConfig;
  }
}
