/**
 * The five ARM verbs for one kind of tracked resource (PUT, PATCH, GET, DELETE, list), wired to the
 * kind's ResourceService. Long-running kinds answer PUT/PATCH with `Azure-AsyncOperation` and
 * DELETE with 202; synchronous kinds (gallery applications) answer 201/200 with no headers.
 */
import type { TSchema } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ResourcePath } from "../../domain/ids.js";
import type { ResourceRecord, Store } from "../../domain/resource.js";
import type { ResourceService, WriteContext } from "../../domain/resource-service.js";
import type { ApiFamily } from "../arm/api-versions.js";
import { AnswerCache } from "../arm/answer-cache.js";
import { acceptedDelete, finishedOperation } from "../arm/lro.js";
import { pageRequest, sendPage } from "../arm/paging.js";
import { renderResource } from "../arm/render.js";
import { shapeRecord } from "../arm/version-shapes.js";

export interface TrackedKind {
  service: ResourceService;
  /** Route of the collection, with `:param` placeholders. */
  collection: string;
  /** Path parameter naming the resource itself, e.g. `galleryImageName`. */
  itemParam: string;
  /** Path parameters naming its ancestors below the resource group, e.g. [`galleryName`]. */
  parentParams: string[];
  /** ARM type as ARM names it in api-version errors, e.g. `galleries/images`. */
  armType: string;
  family: ApiFamily;
  putSchema: TSchema;
  patchSchema: TSchema;
  propertyOrder: readonly string[];
  longRunning: boolean;
}

export function actorOf(request: FastifyRequest): WriteContext {
  const claims = request.armClaims!;
  return {
    actor: { id: claims.appId, type: "Application", tenantId: claims.tenantId },
    apiVersion: request.armApiVersion,
    now: new Date(),
  };
}

export function trackedRoutes(app: FastifyInstance, store: Store, kind: TrackedKind) {
  const config = { arm: { family: kind.family, resourceType: kind.armType } };
  const item = `${kind.collection}/:${kind.itemParam}`;

  const pathOf = (request: FastifyRequest, withItem: boolean): ResourcePath => {
    const p = request.params as Record<string, string>;
    const names = kind.parentParams.map((n) => p[n]!);
    if (withItem) names.push(p[kind.itemParam]!);
    return { subscriptionId: p.subscriptionId!, resourceGroup: p.resourceGroupName!, names };
  };

  const render = (request: FastifyRequest, record: ResourceRecord, state: string) =>
    renderResource(shapeRecord(kind.armType, request.armApiVersion, record), {
      apiVersion: request.armApiVersion,
      provisioningState: kind.longRunning ? state : null,
      propertyOrder: kind.propertyOrder,
    });

  const asyncHeaders = (request: FastifyRequest, reply: FastifyReply, record: ResourceRecord) =>
    kind.longRunning
      ? finishedOperation(
          store,
          request,
          reply,
          {
            subscriptionId: record.subscriptionId,
            location: record.location,
            apiVersion: request.armApiVersion,
          },
          { location: false },
        )
      : undefined;

  app.put(item, { config, schema: { body: kind.putSchema } }, async (request, reply) => {
    const body = request.body as {
      location: string;
      tags?: Record<string, string>;
      properties?: Record<string, unknown>;
    };
    const { record, created } = await kind.service.put(
      pathOf(request, true),
      { location: body.location, tags: body.tags, properties: body.properties ?? {} },
      actorOf(request),
    );
    await asyncHeaders(request, reply, record);
    return reply
      .code(created ? 201 : 200)
      .send(render(request, record, created ? "Creating" : "Updating"));
  });

  app.patch(item, { config, schema: { body: kind.patchSchema } }, async (request, reply) => {
    const body = request.body as {
      tags?: Record<string, string>;
      properties?: Record<string, unknown>;
    };
    const record = await kind.service.patch(pathOf(request, true), body, actorOf(request));
    await asyncHeaders(request, reply, record);
    return reply.code(200).send(render(request, record, "Updating"));
  });

  const answers = new AnswerCache();
  app.get(item, { config }, async (request, reply) => {
    const path = pathOf(request, true);
    // Taken before the read: a write landing in between leaves the answer stale-stamped, unused.
    const stamp = store.changeStamp();
    const cacheKey = `${request.armApiVersion} ${kind.service.keyOf(path)}`;
    let answer = answers.get(cacheKey, stamp);
    if (answer === undefined) {
      answer = JSON.stringify(render(request, await kind.service.get(path), "Succeeded"));
      answers.set(cacheKey, stamp, answer);
    }
    return reply.type("application/json; charset=utf-8").send(answer);
  });

  app.delete(item, { config }, async (request, reply) => {
    const path = pathOf(request, true);
    const deleted = await kind.service.delete(path);
    if (!deleted) return reply.code(204).send();
    if (!kind.longRunning) return reply.code(200).send();
    return acceptedDelete(store, request, reply, {
      subscriptionId: path.subscriptionId,
      location: deleted.location,
    });
  });

  app.get(kind.collection, { config }, async (request, reply) => {
    const page = await kind.service.list(pathOf(request, false), pageRequest(request));
    return sendPage(request, reply, page, (r) => render(request, r, "Succeeded"));
  });
}
