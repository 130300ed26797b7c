/**
 * Resource groups, and ARM's move action, which refuses gallery resources as Azure does (they
 * cannot change group or subscription).
 */
import { randomUUID } from "node:crypto";
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { keyOf } from "../../domain/ids.js";
import type { ResourceRecord, Store } from "../../domain/resource.js";
import type { ResourceGroupService } from "../../resources/resource-groups.js";
import { ArmError } from "../arm/errors.js";
import { baseUrlOf } from "../arm/lro.js";
import { pageRequest, sendPage } from "../arm/paging.js";
import { Location, Obj, Tags } from "../schemas/common.js";
import { actorOf } from "./tracked.js";

const config = { arm: { family: "resources" as const, resourceType: "resourceGroups" } };
const GROUP = "/subscriptions/:subscriptionId/resourcegroups/:resourceGroupName";

const PutBody = Type.Object(
  {
    location: Location,
    tags: Type.Optional(Tags),
    managedBy: Type.Optional(Type.String({ maxLength: 1024 })),
    properties: Type.Optional(Obj({})),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Object({ tags: Type.Optional(Tags) }, { additionalProperties: false });
const MoveBody = Type.Object(
  {
    resources: Type.Array(Type.String({ maxLength: 2048 }), { minItems: 1, maxItems: 800 }),
    targetResourceGroup: Type.String({ maxLength: 2048 }),
  },
  { additionalProperties: false },
);

function render(r: ResourceRecord) {
  const out: Record<string, unknown> = {
    id: r.id,
    name: r.name,
    type: r.type,
    location: r.location,
  };
  if (r.properties.managedBy) out.managedBy = r.properties.managedBy;
  if (r.tags && Object.keys(r.tags).length > 0) out.tags = r.tags;
  out.properties = { provisioningState: "Succeeded" };
  return out;
}

const params = (request: FastifyRequest) =>
  request.params as { subscriptionId: string; resourceGroupName: string };

export function resourceGroupRoutes(
  app: FastifyInstance,
  deps: { store: Store; groups: ResourceGroupService },
) {
  const { groups } = deps;

  app.put(GROUP, { config, schema: { body: PutBody } }, async (request, reply) => {
    const { subscriptionId, resourceGroupName } = params(request);
    const { record, created } = await groups.put(
      subscriptionId,
      resourceGroupName,
      request.body as { location: string; tags?: Record<string, string>; managedBy?: string },
      actorOf(request),
    );
    return reply.code(created ? 201 : 200).send(render(record));
  });

  app.patch(GROUP, { config, schema: { body: PatchBody } }, async (request) => {
    const { subscriptionId, resourceGroupName } = params(request);
    return render(
      await groups.patch(
        subscriptionId,
        resourceGroupName,
        request.body as { tags?: Record<string, string> },
      ),
    );
  });

  app.get(GROUP, { config }, async (request) => {
    const { subscriptionId, resourceGroupName } = params(request);
    return render(await groups.get(subscriptionId, resourceGroupName));
  });

  app.head(GROUP, { config }, async (request, reply) => {
    const { subscriptionId, resourceGroupName } = params(request);
    return reply.code((await groups.exists(subscriptionId, resourceGroupName)) ? 204 : 404).send();
  });

  app.delete(GROUP, { config }, async (request, reply) => {
    const { subscriptionId, resourceGroupName } = params(request);
    await groups.delete(subscriptionId, resourceGroupName);
    // The delete committed before this answer; the operation URL only confirms it.
    const token = randomUUID();
    reply.header(
      "Location",
      `${baseUrlOf(request)}/subscriptions/${subscriptionId}/operationresults/${token}?api-version=${request.armApiVersion}`,
    );
    reply.header("Retry-After", "0");
    return reply.code(202).send();
  });

  app.get(
    "/subscriptions/:subscriptionId/operationresults/:operationId",
    { config },
    async (_request, reply) => reply.code(200).send(),
  );

  app.get("/subscriptions/:subscriptionId/resourcegroups", { config }, async (request, reply) => {
    const page = await groups.list(params(request).subscriptionId, pageRequest(request));
    return sendPage(request, reply, page, render);
  });

  const move = async (request: FastifyRequest) => {
    const { subscriptionId, resourceGroupName } = params(request);
    await groups.get(subscriptionId, resourceGroupName);
    const body = request.body as { resources: string[] };
    const details = [];
    for (const id of body.resources) {
      const known = await deps.store.resources.get(keyOf(id));
      if (/\/providers\/microsoft\.compute\/galleries(\/|$)/i.test(id)) {
        details.push({
          code: "ResourceMoveNotSupported",
          target: id,
          message:
            "Resource move is not supported for resource types 'Microsoft.Compute/galleries'. Create a gallery in the target and publish the image versions into it instead.",
        });
      } else if (!known) {
        details.push({
          code: "ResourceNotFound",
          target: id,
          message: `The Resource '${id}' was not found.`,
        });
      } else {
        details.push({
          code: "ResourceMoveNotSupported",
          target: id,
          message: `Resource move is not supported for resource types '${known.type}'.`,
        });
      }
    }
    throw new ArmError(
      409,
      "ResourceMoveValidationFailed",
      `The resource batch move request has '${details.length}' validation errors. See details.`,
      "resources",
      details,
    );
  };
  app.post(`${GROUP}/moveResources`, { config, schema: { body: MoveBody } }, move);
  app.post(`${GROUP}/validateMoveResources`, { config, schema: { body: MoveBody } }, move);
}
