/**
 * Async-operation status (`capsOperations`) and the `monitor=true` form that az polls after a
 * DELETE or share action. Extra query parameters (Azure signs these URLs) are ignored.
 */
import type { FastifyInstance } from "fastify";
import type { Store } from "../../domain/resource.js";
import { ArmError } from "../arm/errors.js";
import { armTime } from "../arm/timestamps.js";
import { POLL_AFTER_SECONDS } from "../arm/lro.js";

export function operationRoutes(app: FastifyInstance, deps: { store: Store }) {
  app.get(
    "/subscriptions/:subscriptionId/providers/Microsoft.Compute/locations/:location/capsOperations/:operationId",
    { config: { arm: { family: "operations", resourceType: "locations/capsOperations" } } },
    async (request, reply) => {
      const { subscriptionId, operationId } = request.params as {
        subscriptionId: string;
        operationId: string;
      };
      const op = await deps.store.operations.get(operationId);
      if (!op || op.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
        throw new ArmError(
          404,
          "OperationNotFound",
          `The operation '${operationId}' could not be found.`,
          "operationId",
        );
      }
      // Azure sends no Retry-After; without one az waits 30 s between polls of a job that
      // takes seconds here.
      if (op.status === "InProgress") reply.header("Retry-After", POLL_AFTER_SECONDS);
      const monitor = (request.query as Record<string, string>).monitor === "true";
      if (monitor) return reply.code(op.status === "InProgress" ? 202 : 200).send();
      const body: Record<string, unknown> = { startTime: armTime(op.startTime) };
      if (op.endTime) body.endTime = armTime(op.endTime);
      body.status = op.status;
      if (op.error) body.error = op.error;
      body.name = op.id;
      return body;
    },
  );
}
