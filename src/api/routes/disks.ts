/**
 * Managed disks and snapshots on their ARM paths (DiskRP): PUT, PATCH, GET, DELETE, lists by group
 * and subscription, and the access actions `beginGetAccess` / `endGetAccess`. A PUT that creates
 * answers as Azure does, 202 with a `DiskOperations` operation to poll (az 2.45's generated
 * client refuses a 201: the spec declares 200 and 202 only); the operation has already succeeded
 * and its poll shows the disk as `properties.output`. Other writes answer with the finished
 * resource at once (200).
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ResourcePath } from "../../domain/ids.js";
import type { ResourceRecord, Store } from "../../domain/resource.js";
import type { DiskService } from "../../disks/disk-service.js";
import { VhdError } from "../../formats/vhd.js";
import { ArmError } from "../arm/errors.js";
import { armTime } from "../arm/timestamps.js";
import { baseUrlOf } from "../arm/lro.js";
import { pageRequest, sendPage } from "../arm/paging.js";
import { renderResource } from "../arm/render.js";
import { ArmEnum, Location, Obj, OsType, Tags } from "../schemas/common.js";
import { actorOf } from "./tracked.js";

const GROUP = "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName";

const ORDER = [
  "osType",
  "hyperVGeneration",
  "creationData",
  "diskSizeGB",
  "diskIOPSReadWrite",
  "diskMBpsReadWrite",
  "encryption",
  "incremental",
  "networkAccessPolicy",
  "publicNetworkAccess",
  "timeCreated",
  "provisioningState",
  "diskState",
  "diskSizeBytes",
  "uniqueId",
  "tier",
];

const DiskSkus = ArmEnum([
  "Standard_LRS",
  "Premium_LRS",
  "StandardSSD_LRS",
  "UltraSSD_LRS",
  "Premium_ZRS",
  "StandardSSD_ZRS",
  "PremiumV2_LRS",
  "Standard_ZRS",
] as const);

const Properties = Obj({
  osType: Type.Optional(OsType),
  hyperVGeneration: Type.Optional(ArmEnum(["V1", "V2"] as const)),
  creationData: Type.Optional(
    Obj({
      createOption: ArmEnum(["Empty", "Upload", "Copy", "Import", "FromImage", "Restore"] as const),
      sourceResourceId: Type.Optional(Type.String({ maxLength: 1024 })),
      uploadSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
      galleryImageReference: Type.Optional(
        Obj({
          id: Type.Optional(Type.String({ maxLength: 1024 })),
          lun: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
        }),
      ),
    }),
  ),
  diskSizeGB: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
  incremental: Type.Optional(Type.Boolean()),
  networkAccessPolicy: Type.Optional(ArmEnum(["AllowAll", "AllowPrivate", "DenyAll"] as const)),
  publicNetworkAccess: Type.Optional(ArmEnum(["Enabled", "Disabled"] as const)),
});

const Sku = Obj({ name: Type.Optional(DiskSkus) });

const PutBody = Type.Object(
  {
    location: Location,
    tags: Type.Optional(Tags),
    sku: Type.Optional(Sku),
    zones: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
    properties: Type.Optional(Properties),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  { tags: Type.Optional(Tags), sku: Type.Optional(Sku), properties: Type.Optional(Properties) },
  { additionalProperties: false },
);

const GrantBody = Type.Object(
  {
    access: ArmEnum(["None", "Read", "Write"] as const),
    durationInSeconds: Type.Integer(),
  },
  { additionalProperties: false },
);

/** Properties under `_` are the service's own bookkeeping (grants, sku, source) and never shown. */
export function renderDisk(record: ResourceRecord, provisioningState = "Succeeded") {
  const visible = Object.fromEntries(
    Object.entries(record.properties).filter(([k]) => !k.startsWith("_")),
  );
  return renderResource(
    { ...record, properties: visible },
    {
      // Disks answer in one shape for every api-version and without systemData, as before.
      apiVersion: "",
      provisioningState,
      propertyOrder: ORDER,
      envelope: { sku: record.properties._sku, zones: record.properties._zones },
    },
  );
}

export function diskRoutes(app: FastifyInstance, deps: { disks: DiskService; store: Store }) {
  const { disks, store } = deps;

  const operationsPath =
    "/subscriptions/:subscriptionId/providers/Microsoft.Compute/locations/:location/DiskOperations/:operationId";
  app.get(
    operationsPath,
    { config: { arm: { family: "disks" as const, resourceType: "locations/DiskOperations" } } },
    async (request, reply) => {
      const { subscriptionId, operationId } = request.params as {
        subscriptionId: string;
        operationId: string;
      };
      const op = await store.operations.get(operationId);
      if (!op || op.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
        throw new ArmError(
          404,
          "OperationNotFound",
          `The operation '${operationId}' could not be found.`,
          "operationId",
        );
      }
      if ((request.query as Record<string, string>).monitor === "true") {
        return reply.code(200).send();
      }
      const body: Record<string, unknown> = { startTime: armTime(op.startTime) };
      if (op.endTime) body.endTime = armTime(op.endTime);
      body.status = op.status;
      if (op.error) body.error = op.error;
      const resource = op.resourceKey ? await store.resources.get(op.resourceKey) : undefined;
      if (op.status === "Succeeded" && resource) {
        body.properties = { output: renderDisk(resource) };
      }
      body.name = op.id;
      return body;
    },
  );

  for (const [kind, segment, param] of [
    ["disk", "disks", "diskName"],
    ["snapshot", "snapshots", "snapshotName"],
  ] as const) {
    const config = { arm: { family: "disks" as const, resourceType: segment } };
    const collection = `${GROUP}/providers/Microsoft.Compute/${segment}`;
    const item = `${collection}/:${param}`;
    const pathOf = (request: FastifyRequest): ResourcePath => {
      const p = request.params as Record<string, string>;
      return {
        subscriptionId: p.subscriptionId!,
        resourceGroup: p.resourceGroupName!,
        names: [p[param]!],
      };
    };

    app.put(item, { config, schema: { body: PutBody } }, async (request, reply) => {
      const body = request.body as {
        location: string;
        tags?: Record<string, string>;
        sku?: { name?: string };
        zones?: string[];
        properties?: Record<string, unknown>;
      };
      const { record, operation: op } = await disks.put(
        kind,
        pathOf(request),
        {
          location: body.location,
          tags: body.tags,
          properties: {
            ...body.properties,
            ...(body.sku?.name ? { _sku: body.sku } : {}),
            // Snapshots have no zones in Azure's schema.
            ...(kind === "disk" && body.zones ? { _zones: body.zones } : {}),
          },
        },
        actorOf(request),
      );
      if (!op) return reply.code(200).send(renderDisk(record));
      const url = `${baseUrlOf(request)}/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/DiskOperations/${op.id}`;
      reply.header("Azure-AsyncOperation", `${url}?api-version=${request.armApiVersion}`);
      reply.header("Location", `${url}?monitor=true&api-version=${request.armApiVersion}`);
      return reply.code(202).send(renderDisk(record, "Updating"));
    });

    app.patch(item, { config, schema: { body: PatchBody } }, async (request) => {
      const body = request.body as {
        tags?: Record<string, string>;
        sku?: { name?: string };
        properties?: Record<string, unknown>;
      };
      const properties = { ...body.properties, ...(body.sku?.name ? { _sku: body.sku } : {}) };
      return renderDisk(
        await disks.patch(kind, pathOf(request), { tags: body.tags, properties }, actorOf(request)),
      );
    });

    app.get(item, { config }, async (request) =>
      renderDisk(await disks.get(kind, pathOf(request))),
    );

    app.delete(item, { config }, async (request, reply) => {
      const deleted = await disks.delete(kind, pathOf(request));
      return reply.code(deleted ? 200 : 204).send();
    });

    app.get(collection, { config }, async (request, reply) => {
      const path = pathOf(request);
      const page = await disks.service(kind).list({ ...path, names: [] }, pageRequest(request));
      return sendPage(request, reply, page, renderDisk);
    });

    app.get(
      `/subscriptions/:subscriptionId/providers/Microsoft.Compute/${segment}`,
      { config },
      async (request, reply) => {
        const { subscriptionId } = request.params as { subscriptionId: string };
        const page = await disks
          .service(kind)
          .listBySubscription(subscriptionId, pageRequest(request));
        return sendPage(request, reply, page, renderDisk);
      },
    );

    app.post(`${item}/beginGetAccess`, { config, schema: { body: GrantBody } }, async (request) => {
      const body = request.body as { access: string; durationInSeconds: number };
      const path = pathOf(request);
      if (body.access === "None") {
        await disks.revokeAccess(kind, path);
        return {};
      }
      const granted = await disks.grantAccess(kind, path, body);
      const { account, container, blob } = granted.path;
      return {
        accessSAS: `${baseUrlOf(request)}/${account}/${container}/${blob}?${granted.query}`,
      };
    });

    app.post(`${item}/endGetAccess`, { config }, async (request, reply) => {
      const path = pathOf(request);
      try {
        await disks.revokeAccess(kind, path);
      } catch (err) {
        if (err instanceof VhdError) {
          const record = await disks.get(kind, path);
          const { account, container, blob } = disks.sas.pathOf(
            record.properties.uniqueId as string,
          );
          const url = `${baseUrlOf(request)}/${account}/${container}/${blob}`;
          const what =
            err.reason === "no-footer" || err.reason === "misaligned" || err.reason === "too-short"
              ? "The specified cookie value in VHD footer indicates that"
              : `The VHD footer is invalid (${err.message}):`;
          throw new ArmError(
            400,
            "InvalidVhd",
            `${what} disk '${record.name}' with blob ${url} is not a supported VHD. Disk is expected to be a fixed VHD with cookie value 'conectix', a valid checksum, and a virtual size that is a whole number of MiB.`,
          );
        }
        throw err;
      }
      return reply.code(200).send();
    });
  }
}
