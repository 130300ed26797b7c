/**
 * The ARM verbs of a kind of gallery version (image versions, application versions), wired to its
 * `VersionService`. A write answers at once (201/200 with the version `Creating`/`Updating`) and
 * its `Azure-AsyncOperation` stays `InProgress` until every replica is complete;
 * `$expand=ReplicationStatus` shows the regions' progress meanwhile. DELETE answers 202 with both
 * `Azure-AsyncOperation` and `Location` (SHAPES.md §2).
 */
import type { TSchema } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ResourcePath } from "../../domain/ids.js";
import type { OperationRecord, ResourceRecord, Store } from "../../domain/resource.js";
import type { VersionService } from "../../gallery/version-lifecycle.js";
import { versionStateOf } from "../../gallery/versions.js";
import { ArmError } from "../arm/errors.js";
import { acceptedDelete, baseUrlOf, POLL_AFTER_SECONDS } from "../arm/lro.js";
import { sendPage, pageRequest } from "../arm/paging.js";
import { renderResource } from "../arm/render.js";
import { actorOf } from "./tracked.js";

/** What `$expand` may ask for: `replicationStatus`, or a stored property shown only on request. */
export type ExpandValue = "replicationStatus" | { property: string } | null;

export interface VersionKindRoutes {
  service: VersionService;
  /** Route of the collection, with `:param` placeholders. */
  collection: string;
  /** Path parameter naming the version, e.g. `galleryImageVersionName`. */
  itemParam: string;
  /** Path parameters naming its ancestors below the resource group. */
  parentParams: string[];
  /** ARM type as ARM names it in api-version errors, e.g. `galleries/images/versions`. */
  armType: string;
  putSchema: TSchema;
  patchSchema: TSchema;
  propertyOrder: readonly string[];
  /**
   * `$expand` values (Azure's spelling) and what each shows; `null` is accepted and shows nothing
   * (e.g. `UefiSettings`). Properties named here are hidden unless asked for.
   */
  expand: Record<string, ExpandValue>;
  /** The shown properties as an api-version answers them. */
  shape?(properties: Record<string, unknown>, apiVersion: string): Record<string, unknown>;
}

export function versionRoutes(
  app: FastifyInstance,
  deps: { store: Store },
  kind: VersionKindRoutes,
) {
  const config = { arm: { family: "gallery" as const, resourceType: kind.armType } };
  const item = `${kind.collection}/:${kind.itemParam}`;
  const hidden = new Set(
    Object.values(kind.expand).flatMap((v) => (v && typeof v === "object" ? [v.property] : [])),
  );
  const allowed = Object.keys(kind.expand);
  const byLowerCase = new Map(allowed.map((name) => [name.toLowerCase(), kind.expand[name]!]));

  const pathOf = (request: FastifyRequest, withItem: boolean): ResourcePath => {
    const p = request.params as Record<string, string>;
    const names = kind.parentParams.map((n) => p[n]!);
    if (withItem) names.push(p[kind.itemParam]!);
    return { subscriptionId: p.subscriptionId!, resourceGroup: p.resourceGroupName!, names };
  };

  const expandOf = (request: FastifyRequest): ExpandValue[] => {
    const raw = (request.query as Record<string, string | undefined>).$expand;
    if (raw === undefined) return [];
    return raw.split(",").map((part) => {
      const name = part.trim().toLowerCase();
      if (name === "") return null;
      const value = byLowerCase.get(name);
      if (value === undefined) {
        const names = allowed.map((a) => `'${a}'`);
        const list =
          names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
        throw new ArmError(
          400,
          "InvalidParameter",
          `The value '${raw}' of $expand is not valid. Allowed values are ${list}, separated by commas.`,
          "$expand",
        );
      }
      return value;
    });
  };

  const render = async (
    request: FastifyRequest,
    record: ResourceRecord,
    state: string,
    expand: ExpandValue[] = [],
  ) => {
    let properties: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record.properties)) {
      if (!k.startsWith("_") && !hidden.has(k)) properties[k] = v;
    }
    if (kind.shape) properties = kind.shape(properties, request.armApiVersion);
    for (const e of expand) {
      if (e === "replicationStatus") {
        properties.replicationStatus = await kind.service.replicationStatus(record);
      } else if (e && record.properties[e.property] !== undefined) {
        properties[e.property] = record.properties[e.property];
      }
    }
    return renderResource(
      { ...record, properties },
      {
        apiVersion: request.armApiVersion,
        provisioningState: state,
        propertyOrder: kind.propertyOrder,
      },
    );
  };

  const pollHeaders = (request: FastifyRequest, reply: FastifyReply, op: OperationRecord) => {
    const url = `${baseUrlOf(request)}/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}`;
    reply.header("Azure-AsyncOperation", `${url}?api-version=${request.armApiVersion}`);
    if (op.status === "InProgress") reply.header("Retry-After", POLL_AFTER_SECONDS);
  };

  app.put(item, { config, schema: { body: kind.putSchema } }, async (request, reply) => {
    const body = request.body as {
      location: string;
      tags?: Record<string, string>;
      properties?: Record<string, unknown>;
    };
    const { record, created, operation } = await kind.service.put(
      pathOf(request, true),
      { location: body.location, tags: body.tags, properties: body.properties ?? {} },
      actorOf(request),
    );
    pollHeaders(request, reply, operation);
    return reply
      .code(created ? 201 : 200)
      .send(await render(request, record, created ? "Creating" : "Updating"));
  });

  app.patch(item, { config, schema: { body: kind.patchSchema } }, async (request, reply) => {
    const body = request.body as {
      tags?: Record<string, string>;
      properties?: Record<string, unknown>;
    };
    const { record, operation } = await kind.service.patch(
      pathOf(request, true),
      body,
      actorOf(request),
    );
    pollHeaders(request, reply, operation);
    return reply.code(200).send(await render(request, record, "Updating"));
  });

  app.get(item, { config }, async (request) => {
    const expand = expandOf(request);
    const record = await kind.service.get(pathOf(request, true));
    return render(request, record, versionStateOf(record.properties), expand);
  });

  app.delete(item, { config }, async (request, reply) => {
    const path = pathOf(request, true);
    const deleted = await kind.service.delete(path, new Date());
    if (!deleted) return reply.code(204).send();
    return acceptedDelete(deps.store, request, reply, {
      subscriptionId: path.subscriptionId,
      location: deleted.location,
    });
  });

  app.get(kind.collection, { config }, async (request, reply) => {
    const page = await kind.service.list(pathOf(request, false), pageRequest(request));
    const items = await Promise.all(
      page.items.map((r) => render(request, r, versionStateOf(r.properties))),
    );
    return sendPage(request, reply, { ...page, items }, (r) => r);
  });
}
