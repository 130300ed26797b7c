/**
 * Operator diagnostics on this server's own provider: how reads of deployed disks are spread over
 * image replicas (reads in flight and bytes served per replica, since the process started).
 *
 *   GET /providers/Microsoft.Ocg/replicaLoad?api-version=2026-01-01
 */
import type { FastifyInstance } from "fastify";
import type { ReplicaLoad } from "../../disks/replica-load.js";
import { requireAdmin } from "../admin.js";

export function diagnosticsRoutes(app: FastifyInstance, deps: { replicaLoad: ReplicaLoad }) {
  app.get(
    "/providers/Microsoft.Ocg/replicaLoad",
    { config: { arm: { family: "ocg" as const, resourceType: "replicaLoad" } } },
    async (request) => {
      requireAdmin(
        request,
        "Microsoft.Ocg/replicaLoad/read",
        "Only the server's admin principal (credentials.json) reads diagnostics.",
      );
      return { value: deps.replicaLoad.snapshot() };
    },
  );
}
