/**
 * Long-running-operation plumbing as Azure's gallery RP shows it: a PUT answers with an
 * `Azure-AsyncOperation` URL, a DELETE with that and a `Location` (`monitor=true`), both pointing at
 * `/subscriptions/{s}/providers/Microsoft.Compute/locations/{region}/capsOperations/{id}`.
 */
import { randomUUID } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { OperationRecord, Store } from "../../domain/resource.js";

/** Seconds a client should wait between polls of a running operation (Azure sends none). */
export const POLL_AFTER_SECONDS = "1";

export function baseUrlOf(request: FastifyRequest): string {
  return `https://${request.headers.host ?? request.server.ocgPublicUrl.replace(/^https:\/\//, "")}`;
}

/**
 * Records a finished operation and sets the headers that let a client poll it. Our metadata
 * writes commit before the response, so the operation is complete when the client first asks.
 */
export async function finishedOperation(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  scope: { subscriptionId: string; location: string; apiVersion: string },
  opts: { location: boolean },
): Promise<OperationRecord> {
  const now = new Date().toISOString();
  const op: OperationRecord = {
    id: randomUUID(),
    subscriptionId: scope.subscriptionId,
    location: scope.location,
    status: "Succeeded",
    startTime: now,
    endTime: now,
    error: null,
  };
  await store.operations.insert(op);
  const url = `${baseUrlOf(request)}/subscriptions/${scope.subscriptionId}/providers/Microsoft.Compute/locations/${scope.location}/capsOperations/${op.id}`;
  reply.header("Azure-AsyncOperation", `${url}?api-version=${scope.apiVersion}`);
  if (opts.location)
    reply.header("Location", `${url}?monitor=true&api-version=${scope.apiVersion}`);
  return op;
}

/** ARM's answer to a DELETE that removed something: 202 with the operation to poll (finished). */
export async function acceptedDelete(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  deleted: { subscriptionId: string; location: string },
) {
  await finishedOperation(
    store,
    request,
    reply,
    {
      subscriptionId: deleted.subscriptionId,
      location: deleted.location,
      apiVersion: request.armApiVersion,
    },
    { location: true },
  );
  return reply.code(202).send();
}
