/**
 * Gallery image versions on their ARM paths. A write answers at once (201/200 with the version
 * `Creating`/`Updating`) and its `Azure-AsyncOperation` stays `InProgress` until every replica is
 * complete; `$expand=ReplicationStatus` shows the regions' progress meanwhile.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ResourcePath } from "../../domain/ids.js";
import type { OperationRecord, ResourceRecord, Store } from "../../domain/resource.js";
import {
  versionStateOf,
  type DiskImage,
  type StorageProfile,
} from "../../gallery/image-versions.js";
import type { ImageVersionService } from "../../gallery/version-service.js";
import { ArmError } from "../arm/errors.js";
import { baseUrlOf, finishedOperation, POLL_AFTER_SECONDS } from "../arm/lro.js";
import { pageBody, pageRequest } from "../arm/paging.js";
import { renderResource } from "../arm/render.js";
import { TrackedPatch, TrackedPut } from "../schemas/common.js";
import { ImageVersionPatchProperties, ImageVersionProperties } from "../schemas/image-version.js";
import { actorOf } from "./tracked.js";

const VERSIONS =
  "/subscriptions/:subscriptionId/resourceGroups/:resourceGroupName/providers/Microsoft.Compute/galleries/:galleryName/images/:galleryImageName/versions";
const VERSION = `${VERSIONS}/:galleryImageVersionName`;

/**
 * Until 2023-07-03 a VHD source came back as `{uri, id}` with the storage account in `id`
 * (az-recordings, api-version 2022-03-03); later versions answer `{storageAccountId, uri}`.
 */
const STORAGE_ACCOUNT_ID_FROM = "2023-07-03";

function vhdSourceShape(properties: Record<string, unknown>, apiVersion: string) {
  const sp = properties.storageProfile as StorageProfile | undefined;
  if (!sp) return properties;
  const shape = (d: DiskImage): DiskImage => {
    const s = d.source;
    if (s?.uri === undefined) return d;
    const source =
      apiVersion >= STORAGE_ACCOUNT_ID_FROM
        ? { storageAccountId: s.storageAccountId, uri: s.uri }
        : { uri: s.uri, id: s.storageAccountId };
    return { ...d, source };
  };
  return {
    ...properties,
    storageProfile: {
      ...sp,
      ...(sp.osDiskImage ? { osDiskImage: shape(sp.osDiskImage) } : {}),
      ...(sp.dataDiskImages ? { dataDiskImages: sp.dataDiskImages.map(shape) } : {}),
    },
  };
}

const VERSION_ORDER = [
  "publishingProfile",
  "storageProfile",
  "safetyProfile",
  "securityProfile",
  "replicationStatus",
  "validationsProfile",
  "provisioningState",
];

type Expand = { replicationStatus: boolean; validationProfile: boolean };

function expandOf(request: FastifyRequest): Expand {
  const raw = (request.query as Record<string, string | undefined>).$expand;
  const expand = { replicationStatus: false, validationProfile: false };
  if (raw === undefined) return expand;
  for (const part of raw.split(",").map((p) => p.trim().toLowerCase())) {
    if (part === "replicationstatus") expand.replicationStatus = true;
    else if (part === "validationprofile") expand.validationProfile = true;
    else if (part === "uefisettings" || part === "") continue;
    else {
      throw new ArmError(
        400,
        "InvalidParameter",
        `The value '${raw}' of $expand is not valid. Allowed values are 'ReplicationStatus', 'UefiSettings' and 'ValidationProfile', separated by commas.`,
        "$expand",
      );
    }
  }
  return expand;
}

export function imageVersionRoutes(
  app: FastifyInstance,
  deps: { store: Store; versions: ImageVersionService },
) {
  const config = { arm: { family: "gallery" as const, resourceType: "galleries/images/versions" } };

  const pathOf = (request: FastifyRequest, withItem: boolean): ResourcePath => {
    const p = request.params as Record<string, string>;
    const names = [p.galleryName!, p.galleryImageName!];
    if (withItem) names.push(p.galleryImageVersionName!);
    return { subscriptionId: p.subscriptionId!, resourceGroup: p.resourceGroupName!, names };
  };

  const render = async (
    request: FastifyRequest,
    record: ResourceRecord,
    state: string,
    expand: Expand = { replicationStatus: false, validationProfile: false },
  ) => {
    let properties: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record.properties)) {
      if (!k.startsWith("_") && k !== "validationsProfile") properties[k] = v;
    }
    properties = vhdSourceShape(properties, request.armApiVersion);
    if (expand.replicationStatus) {
      properties.replicationStatus = await deps.versions.replicationStatus(record);
    }
    if (expand.validationProfile && record.properties.validationsProfile) {
      properties.validationsProfile = record.properties.validationsProfile;
    }
    return renderResource(
      { ...record, properties },
      {
        apiVersion: request.armApiVersion,
        provisioningState: state,
        propertyOrder: VERSION_ORDER,
      },
    );
  };

  const pollHeaders = (request: FastifyRequest, reply: FastifyReply, op: OperationRecord) => {
    const url = `${baseUrlOf(request)}/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/capsOperations/${op.id}`;
    reply.header("Azure-AsyncOperation", `${url}?api-version=${request.armApiVersion}`);
    if (op.status === "InProgress") reply.header("Retry-After", POLL_AFTER_SECONDS);
  };

  app.put(
    VERSION,
    { config, schema: { body: TrackedPut(ImageVersionProperties, true) } },
    async (request, reply) => {
      const body = request.body as {
        location: string;
        tags?: Record<string, string>;
        properties?: Record<string, unknown>;
      };
      const { record, created, operation } = await deps.versions.put(
        pathOf(request, true),
        { location: body.location, tags: body.tags, properties: body.properties ?? {} },
        actorOf(request),
      );
      pollHeaders(request, reply, operation);
      return reply
        .code(created ? 201 : 200)
        .send(await render(request, record, created ? "Creating" : "Updating"));
    },
  );

  app.patch(
    VERSION,
    { config, schema: { body: TrackedPatch(ImageVersionPatchProperties) } },
    async (request, reply) => {
      const body = request.body as {
        tags?: Record<string, string>;
        properties?: Record<string, unknown>;
      };
      const { record, operation } = await deps.versions.patch(
        pathOf(request, true),
        body,
        actorOf(request),
      );
      pollHeaders(request, reply, operation);
      return reply.code(200).send(await render(request, record, "Updating"));
    },
  );

  app.get(VERSION, { config }, async (request) => {
    const expand = expandOf(request);
    const record = await deps.versions.get(pathOf(request, true));
    return render(request, record, versionStateOf(record.properties), expand);
  });

  app.delete(VERSION, { config }, async (request, reply) => {
    const path = pathOf(request, true);
    const deleted = await deps.versions.delete(path, new Date());
    if (!deleted) return reply.code(204).send();
    await finishedOperation(
      deps.store,
      request,
      reply,
      {
        subscriptionId: path.subscriptionId,
        location: deleted.location,
        apiVersion: request.armApiVersion,
      },
      { location: true },
    );
    return reply.code(202).send();
  });

  app.get(VERSIONS, { config }, async (request) => {
    const page = await deps.versions.list(pathOf(request, false), pageRequest(request));
    const items = await Promise.all(
      page.items.map((r) => render(request, r, versionStateOf(r.properties))),
    );
    return pageBody(request, { ...page, items }, (r) => r);
  });
}
