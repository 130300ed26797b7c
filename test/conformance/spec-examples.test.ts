/**
 * Conformance replay of the REST spec's own examples (../shared/azure-spec/examples, GalleryRP
 * 2026-03-03) for the operations this server implements: galleries, image definitions and gallery
 * applications — create/update/get/list/delete. Each example runs in its own resource group
 * (deleted afterwards); its parents are created first and, for get/list/update/delete, the
 * resource itself is seeded from the example's own answer. Then the example's request is sent
 * with its api-version: a PUT twice (create, then replace), a DELETE twice (then 204). The status
 * must be one the example declares, the headers it declares for that status must be there, and
 * our body must have the shape of its body (shape.ts, with its documented exclusions). The list
 * examples show a nextLink, so the server serves pages of one and one more resource is seeded.
 * Examples of operations not built yet are `todo`s named with the issue that brings them.
 *
 * Image versions need bytes: their examples run with real sources. A small VHD is uploaded once
 * per example through a disk access URL, and every snapshot or disk the example names is a copy of
 * it; a gallery image version it names as source is published from such snapshots first. The
 * example's `{placeholders}` become this subscription, the example's group and plain names. Where
 * the example answers with a version that is already replicated (GET), the seeded version is
 * awaited until it has succeeded. Examples whose version comes from something this server does not
 * host (a managed image, a virtual machine, a community gallery image) are skipped saying so; VHD
 * sources are `todo` until they are built.
 *
 * Only this file and az-recordings.test.ts read ../shared; nothing is copied into the project.
 * Without ../shared/azure-spec the test skips and says so.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { makeVhd, uploadDisk } from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";
import { compareShape, ISSUES, replayRegion, type ShapeContext } from "./shape.js";

const REPO = resolve(import.meta.dirname, "../..");
const EXAMPLES = resolve(REPO, "../shared/azure-spec/examples");

type Kind = "gallery" | "image" | "application" | "imageVersion";
type Verb = "put" | "patch" | "get" | "list" | "listBySubscription" | "delete";
type Json = Record<string, any>;

interface Example {
  name: string;
  operationId: string;
  parameters: Json;
  responses: Record<string, { body?: unknown; headers?: Record<string, string> }>;
}

const IMPLEMENTED: Record<string, { kind: Kind; verb: Verb }> = {
  Galleries_CreateOrUpdate: { kind: "gallery", verb: "put" },
  Galleries_Update: { kind: "gallery", verb: "patch" },
  Galleries_Get: { kind: "gallery", verb: "get" },
  Galleries_ListByResourceGroup: { kind: "gallery", verb: "list" },
  Galleries_List: { kind: "gallery", verb: "listBySubscription" },
  Galleries_Delete: { kind: "gallery", verb: "delete" },
  GalleryImages_CreateOrUpdate: { kind: "image", verb: "put" },
  GalleryImages_Update: { kind: "image", verb: "patch" },
  GalleryImages_Get: { kind: "image", verb: "get" },
  GalleryImages_ListByGallery: { kind: "image", verb: "list" },
  GalleryImages_Delete: { kind: "image", verb: "delete" },
  GalleryApplications_CreateOrUpdate: { kind: "application", verb: "put" },
  GalleryApplications_Update: { kind: "application", verb: "patch" },
  GalleryApplications_Get: { kind: "application", verb: "get" },
  GalleryApplications_ListByGallery: { kind: "application", verb: "list" },
  GalleryApplications_Delete: { kind: "application", verb: "delete" },
  GalleryImageVersions_CreateOrUpdate: { kind: "imageVersion", verb: "put" },
  GalleryImageVersions_Update: { kind: "imageVersion", verb: "patch" },
  GalleryImageVersions_Get: { kind: "imageVersion", verb: "get" },
  GalleryImageVersions_ListByGalleryImage: { kind: "imageVersion", verb: "list" },
  GalleryImageVersions_Delete: { kind: "imageVersion", verb: "delete" },
};

/**
 * Why an image version example is not replayed, if it is not: its version's source is something
 * this server does not host, or a VHD on Azure Storage, which cannot be reached (skip). The example's request
 * and answers are searched: a GET shows the source of the version it reads.
 */
function versionNotReplayed(ex: Example): { skip: string } | { todo: string } | undefined {
  if (ex.name === "GalleryImageVersion_Update_RestoreSoftDeleted")
    return { todo: ISSUES.softDelete };
  const text = JSON.stringify([ex.parameters, ex.responses]);
  if (/"uri":\s*"https:\/\/[^"]+\.blob\.core\.windows\.net\//.test(text)) {
    return {
      skip: "the example's VHD source is a blob on Azure Storage (*.blob.core.windows.net), which cannot be reached from here; VHD sources are replayed against Azurite in test/gallery/vhd-uri-sources.test.ts",
    };
  }
  const unhosted: [RegExp, string][] = [
    [/\/providers\/Microsoft\.Compute\/images\//i, "a managed image (Microsoft.Compute/images)"],
    [/virtualMachineId|\/providers\/Microsoft\.Compute\/virtualMachines\//i, "a virtual machine"],
    [/communityGalleryImageId/, "a community gallery image"],
  ];
  const kind = unhosted.find(([re]) => re.test(text))?.[1];
  return kind
    ? { skip: `the example's image version is made from ${kind}, which this server does not host` }
    : undefined;
}

/** Operations not built yet, by operationId, with the issue that brings them. */
const NOT_YET: [RegExp, string][] = [
  [/^GalleryScript(Version)?s_/, ISSUES.scripts],
  [/^GalleryInVMAccessControlProfile(Version)?s_/, ISSUES.inVMAccessControlProfiles],
  [/^GallerySharingProfile_Update$/, ISSUES.sharing],
  [/^(TenantLevel)?GallerySharing_(Accept|Reject)$/, ISSUES.sharingInvites],
  [/^SharedGaller(y|ies|yImages|yImageVersions)_/, ISSUES.sharedGalleries],
  [/^CommunityGaller(y|ies|yImages|yImageVersions)_/, ISSUES.communityGalleries],
  [/^SoftDeletedResource_/, ISSUES.softDelete],
];

const KINDS: Record<Kind, { nameParam: string; bodyParam: string; segment?: string }> = {
  gallery: { nameParam: "galleryName", bodyParam: "gallery" },
  image: { nameParam: "galleryImageName", bodyParam: "galleryImage", segment: "images" },
  application: {
    nameParam: "galleryApplicationName",
    bodyParam: "galleryApplication",
    segment: "applications",
  },
  imageVersion: { nameParam: "galleryImageVersionName", bodyParam: "galleryImageVersion" },
};

/** The smallest valid body of each kind: parents, and the target of a delete example. */
const MINIMAL: Record<Exclude<Kind, "imageVersion">, (location: string) => Json> = {
  gallery: (location) => ({ location }),
  image: (location) => ({
    location,
    properties: {
      osType: "Windows",
      osState: "Generalized",
      identifier: { publisher: "seedPublisher", offer: "seedOffer", sku: "seedSku" },
    },
  }),
  application: (location) => ({ location, properties: { supportedOSType: "Windows" } }),
};

/**
 * Examples whose answer cannot seed the resource, and the example whose request does instead:
 * CommunityGallery_Get shows a community gallery without `publicNamePrefix` (Azure does not echo
 * it once the gallery is enabled), and a community gallery cannot be created without one.
 */
const SEED_FROM_REQUEST_OF: Record<string, string> = {
  CommunityGallery_Get: "CommunityGallery_Create",
};

const RG_API = "2022-09-01";

function loadExamples(dir: string): Example[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const path = join(dir, e.name);
      if (e.isDirectory()) return loadExamples(path);
      if (!e.name.endsWith(".json")) return [];
      const json = JSON.parse(readFileSync(path, "utf8")) as Json;
      return [{ ...json, name: basename(e.name, ".json") } as Example];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Every `location` an example mentions, as ARM short names (`West US` → `westus`). */
function regionsOf(examples: Example[]): string[] {
  const found = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        if (k === "location" && typeof child === "string") found.add(shortRegion(child));
        if (k === "targetRegions" && Array.isArray(child)) {
          for (const t of child as { name?: unknown }[]) {
            if (typeof t.name === "string") found.add(shortRegion(t.name));
          }
        }
        walk(child);
      }
    }
  };
  examples.forEach((e) => walk([e.parameters, e.responses]));
  return [...found].filter((r) => /^[a-z0-9]+$/.test(r)).sort();
}

const shortRegion = (location: string) => location.replace(/\s+/g, "").toLowerCase();

/** What a PUT needs from a resource as Azure shows it: read-only properties are ignored by PUT. */
function seedBody(shown: Json, location: string): Json {
  const body: Json = { location: shown.location ?? location };
  for (const key of ["tags", "identity", "properties"]) {
    if (shown[key] !== undefined) body[key] = structuredClone(shown[key]);
  }
  return body;
}

class Replay {
  readonly groups = new Set<string>();
  readonly sub: string;

  constructor(
    readonly t: TestServer,
    readonly ex: Example,
    readonly tt: TestContext,
  ) {
    this.sub = t.credentials.subscriptionId;
  }

  get apiVersion(): string {
    return this.ex.parameters["api-version"] as string;
  }

  groupPath(rg: string) {
    return `/subscriptions/${this.sub}/resourceGroups/${rg}`;
  }

  galleriesPath(rg: string) {
    return `${this.groupPath(rg)}/providers/Microsoft.Compute/galleries`;
  }

  /** Path of a resource of `kind` (or of its collection when `name` is undefined). */
  pathOf(kind: Kind, rg: string, gallery: string | undefined, name: string | undefined) {
    const segment = KINDS[kind].segment;
    if (!segment)
      return name === undefined ? this.galleriesPath(rg) : `${this.galleriesPath(rg)}/${name}`;
    const collection = `${this.galleriesPath(rg)}/${gallery}/${segment}`;
    return name === undefined ? collection : `${collection}/${name}`;
  }

  withQuery(path: string) {
    const q = new URLSearchParams({ "api-version": this.apiVersion });
    for (const [k, v] of Object.entries(this.ex.parameters)) {
      if (k.startsWith("$")) q.set(k, String(v));
    }
    return `${path}?${q.toString().replaceAll("%24", "$")}`;
  }

  async ensureGroup(rg: string, location: string) {
    if (this.groups.has(rg)) return;
    const res = await call(this.t, "PUT", `${this.groupPath(rg)}?api-version=${RG_API}`, {
      body: { location },
    });
    assert.ok(res.status === 200 || res.status === 201, `resource group ${rg}: ${res.text}`);
    this.groups.add(rg);
  }

  /** Creates a resource as set-up (not compared); fails loudly if the server refuses it. */
  async seed(path: string, body: Json) {
    const res = await call(this.t, "PUT", `${path}?api-version=${this.apiVersion}`, { body });
    assert.ok(
      res.status === 200 || res.status === 201,
      `seeding ${path}: ${res.status} ${res.text}`,
    );
  }

  async cleanup() {
    for (const rg of this.groups) {
      await call(this.t, "DELETE", `${this.groupPath(rg)}?api-version=${RG_API}`);
    }
  }

  /** Checks one answer against the example's response for the same status. */
  check(res: Awaited<ReturnType<typeof call>>, kind: Kind, step: string) {
    const declared = this.ex.responses[String(res.status)];
    assert.ok(
      declared,
      `${step}: status ${res.status} is not one the example declares (${Object.keys(this.ex.responses).join(", ")}); body: ${res.text}`,
    );
    for (const header of Object.keys(declared.headers ?? {})) {
      assert.ok(
        res.headers.get(header),
        `${step}: ${res.status} answer lacks the ${header} header`,
      );
    }
    if (declared.body === undefined) return;
    const ctx: ShapeContext = {
      source: "spec-example",
      name: this.ex.name,
      kind,
      write: step.startsWith("create") || step.startsWith("replace"),
    };
    const report = compareShape(declared.body, res.json, ctx);
    for (const { path, exclusion } of report.excluded) {
      this.tt.diagnostic(
        `${step}: excluded ${path} — ${exclusion.reason}${exclusion.issue ? ` (${exclusion.issue})` : ""}`,
      );
    }
    assert.deepEqual(report.problems, [], `${step}: ${res.status} body differs from the example`);
  }
}

async function replay(t: TestServer, ex: Example, all: Map<string, Example>, tt: TestContext) {
  const { kind, verb } = IMPLEMENTED[ex.operationId]!;
  if (kind === "imageVersion") return replayVersion(t, ex, tt);
  const r = new Replay(t, ex, tt);
  const p = ex.parameters;
  const request = p[KINDS[kind].bodyParam] as Json | undefined;
  const answer = (ex.responses["200"]?.body ?? ex.responses["201"]?.body) as Json | undefined;
  const location =
    (request?.location as string | undefined) ??
    (answer?.location as string | undefined) ??
    (answer?.value?.[0]?.location as string | undefined) ??
    "West US";
  const gallery = p.galleryName as string | undefined;
  const name = p[KINDS[kind].nameParam] as string | undefined;

  /** Resource group and gallery above the resource. */
  const parents = async (rg: string) => {
    await r.ensureGroup(rg, location);
    if (kind !== "gallery")
      await r.seed(r.pathOf("gallery", rg, undefined, gallery), MINIMAL.gallery(location));
  };

  /**
   * Seeds the resources a list example shows. The example's nextLink says a further page
   * exists, so one more resource is seeded and the server serves pages of one (see `before`).
   */
  const seedList = async (items: Json[], rgOf: (item: Json) => string) => {
    for (const [i, item] of items.entries()) {
      const rg = rgOf(item);
      await parents(rg);
      const body = seedBody(item, location);
      await r.seed(r.pathOf(kind, rg, gallery, item.name as string), body);
      if (i === items.length - 1 && answer?.nextLink) {
        const extra = structuredClone(body);
        if (extra.properties?.identifier?.sku) extra.properties.identifier.sku += "-next";
        await r.seed(r.pathOf(kind, rg, gallery, `${item.name as string}-next`), extra);
      }
    }
  };

  try {
    const rg = p.resourceGroupName as string | undefined;
    switch (verb) {
      case "put": {
        await parents(rg!);
        const path = r.withQuery(r.pathOf(kind, rg!, gallery, name));
        const created = await call(t, "PUT", path, { body: request });
        assert.equal(created.status, 201, `create: ${created.text}`);
        r.check(created, kind, "create (PUT of a new resource)");
        const replaced = await call(t, "PUT", path, { body: request });
        assert.equal(replaced.status, 200, `replace: ${replaced.text}`);
        r.check(replaced, kind, "replace (same PUT again)");
        break;
      }
      case "patch":
      case "get": {
        await parents(rg!);
        const seedFrom = SEED_FROM_REQUEST_OF[ex.name];
        const seed = seedFrom
          ? (all.get(seedFrom)!.parameters[KINDS[kind].bodyParam] as Json)
          : seedBody(answer!, location);
        await r.seed(r.pathOf(kind, rg!, gallery, name), seed);
        const path = r.withQuery(r.pathOf(kind, rg!, gallery, name));
        const res = await call(
          t,
          verb.toUpperCase(),
          path,
          verb === "patch" ? { body: request } : {},
        );
        r.check(res, kind, verb.toUpperCase());
        break;
      }
      case "list": {
        await seedList(answer!.value as Json[], () => rg!);
        const res = await call(t, "GET", r.withQuery(r.pathOf(kind, rg!, gallery, undefined)));
        r.check(res, kind, "list");
        break;
      }
      case "listBySubscription": {
        const groupOf = (item: Json) =>
          /\/resourceGroups\/([^/]+)/i.exec(item.id as string)?.[1] ?? "myResourceGroup";
        await seedList(answer!.value as Json[], groupOf);
        const path = r.withQuery(`/subscriptions/${r.sub}/providers/Microsoft.Compute/galleries`);
        r.check(await call(t, "GET", path), kind, "list by subscription");
        break;
      }
      case "delete": {
        await parents(rg!);
        await r.seed(r.pathOf(kind, rg!, gallery, name), MINIMAL[kind](location));
        const path = r.withQuery(r.pathOf(kind, rg!, gallery, name));
        r.check(await call(t, "DELETE", path), kind, "delete");
        if (ex.responses["204"]) {
          const again = await call(t, "DELETE", path);
          assert.equal(again.status, 204, `delete of a deleted resource: ${again.text}`);
        }
        break;
      }
    }
  } finally {
    await r.cleanup();
  }
}

const DISKS_API = "2023-04-02";
const SEED_WAIT_MS = 60_000;

/** The example with its `{placeholders}` filled: this subscription, its group, plain names. */
function filled<T>(value: T, sub: string, rg: string): T {
  const text = JSON.stringify(value)
    .replaceAll("{subscriptionId}", sub)
    .replaceAll("{subscription-id}", sub)
    .replaceAll("{resourceGroup}", rg)
    // A version name is Major.Minor.Patch.
    .replace(/\{[A-Za-z]*[vV]ersionName\}/g, "0.9.0")
    .replace(/\{([A-Za-z][\w-]*)\}/g, "$1");
  return JSON.parse(text) as T;
}

/** Every disk or snapshot id and every image version id a storage profile names as a source. */
function sourcesOf(properties: Json | undefined): string[] {
  const sp = (properties?.storageProfile ?? {}) as Json;
  const ids = [sp.source?.id, sp.osDiskImage?.source?.id];
  for (const d of (sp.dataDiskImages ?? []) as Json[]) ids.push(d.source?.id);
  return ids.filter((id): id is string => typeof id === "string");
}

/** An image version example, replayed with real sources (see the module comment). */
async function replayVersion(t: TestServer, raw: Example, tt: TestContext) {
  const sub = t.credentials.subscriptionId;
  const rg = raw.parameters.resourceGroupName as string;
  const ex = filled(raw, sub, rg);
  const { verb } = IMPLEMENTED[ex.operationId]!;
  const r = new Replay(t, ex, tt);
  const p = ex.parameters;
  const request = p.galleryImageVersion as Json | undefined;
  const answer = (ex.responses["200"]?.body ?? ex.responses["201"]?.body) as Json | undefined;
  const location = (request?.location ?? answer?.location ?? "West US") as string;
  const region = shortRegion(location);
  const imagePath = (g: string, i: string) => `${r.galleriesPath(rg)}/${g}/images/${i}`;
  const versionPath = (v: string) =>
    `${imagePath(p.galleryName as string, p.galleryImageName as string)}/versions/${v}`;
  const api = `?api-version=${r.apiVersion}`;
  let base: string | undefined;

  const definition = async (g: string, i: string) => {
    await r.seed(`${r.galleriesPath(rg)}/${g}`, MINIMAL.gallery(location));
    await r.seed(imagePath(g, i), MINIMAL.image(location));
  };
  /** A snapshot or disk of the uploaded VHD under the example's name for it. */
  const copy = async (id: string) => {
    base ??= await uploadDisk(t, rg, "uploaded-source", region, makeVhd(20));
    const res = await call(t, "PUT", `${id}?api-version=${DISKS_API}`, {
      body: {
        location: region,
        properties: { creationData: { createOption: "Copy", sourceResourceId: base } },
      },
    });
    assert.ok(res.status === 200 || res.status === 202, `seeding ${id}: ${res.status} ${res.text}`);
  };
  const succeeded = async (path: string) => {
    const deadline = Date.now() + SEED_WAIT_MS;
    for (;;) {
      const res = await call(t, "GET", `${path}${api}`);
      const state = res.json?.properties?.provisioningState as string | undefined;
      if (state === "Succeeded") return;
      assert.ok(state !== "Failed" && Date.now() < deadline, `${path} is ${state}: ${res.text}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  };
  /** A version made from snapshots: an OS disk and data disks at luns 0 and 1. */
  const sourceVersion = async (id: string) => {
    const m = /\/galleries\/([^/]+)\/images\/([^/]+)\/versions\/([^/]+)$/i.exec(id)!;
    await definition(m[1]!, m[2]!);
    const snapshot = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/snapshots/source-version-disks`;
    await copy(snapshot);
    await r.seed(id, {
      location,
      properties: {
        storageProfile: {
          osDiskImage: { source: { id: snapshot } },
          dataDiskImages: [0, 1].map((lun) => ({ lun, source: { id: snapshot } })),
        },
      },
    });
    await succeeded(id);
  };
  /** Makes every source a version body names. */
  const sources = async (properties: Json | undefined) => {
    for (const id of sourcesOf(properties)) {
      if (/\/versions\/[^/]+$/i.test(id)) await sourceVersion(id);
      else await copy(id);
    }
  };
  const query = () => {
    const q = new URLSearchParams({ "api-version": r.apiVersion });
    for (const [k, v] of Object.entries(p)) {
      if (k.startsWith("$") || k === "bypassSoftDelete") q.set(k, String(v));
    }
    return `?${q.toString().replaceAll("%24", "$")}`;
  };

  try {
    await r.ensureGroup(rg, location);
    await definition(p.galleryName as string, p.galleryImageName as string);
    const path = versionPath(p.galleryImageVersionName as string);
    switch (verb) {
      case "put": {
        await sources(request!.properties as Json);
        const created = await call(t, "PUT", `${path}${query()}`, { body: request });
        assert.equal(created.status, 201, `create: ${created.text}`);
        r.check(created, "imageVersion", "create (PUT of a new resource)");
        const replaced = await call(t, "PUT", `${path}${query()}`, { body: request });
        assert.equal(replaced.status, 200, `replace: ${replaced.text}`);
        r.check(replaced, "imageVersion", "replace (same PUT again)");
        await succeeded(path);
        break;
      }
      case "get": {
        const seed = seedBody(answer!, location);
        await sources(seed.properties as Json);
        await r.seed(path, seed);
        await succeeded(path);
        r.check(await call(t, "GET", `${path}${query()}`), "imageVersion", "GET");
        break;
      }
      case "delete": {
        const snapshot = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/snapshots/to-delete`;
        await copy(snapshot);
        await r.seed(path, {
          location,
          properties: { storageProfile: { osDiskImage: { source: { id: snapshot } } } },
        });
        r.check(await call(t, "DELETE", `${path}${query()}`), "imageVersion", "delete");
        const again = await call(t, "DELETE", `${path}${query()}`);
        assert.equal(again.status, 204, `delete of a deleted resource: ${again.text}`);
        break;
      }
      default:
        // Every list and update example shows versions from managed images (skipped above).
        assert.fail(`no replay written for ${verb} of image versions`);
    }
  } finally {
    await r.cleanup();
  }
}

if (!existsSync(EXAMPLES)) {
  test(
    "REST spec examples",
    { skip: "../shared/azure-spec not present: conformance replay skipped" },
    () => {},
  );
} else {
  const examples = loadExamples(EXAMPLES);
  const byName = new Map(examples.map((e) => [e.name, e]));
  const implemented = examples.filter((e) => IMPLEMENTED[e.operationId]);
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      regions: regionsOf(implemented).map(replayRegion),
      pageSize: 1,
    });
  });
  after(() => t.close());

  for (const ex of examples) {
    const title = `${ex.name} (${ex.operationId})`;
    const notReplayed =
      IMPLEMENTED[ex.operationId]?.kind === "imageVersion" ? versionNotReplayed(ex) : undefined;
    if (notReplayed) {
      test(title, notReplayed);
    } else if (/^GalleryApplicationVersions_/.test(ex.operationId)) {
      // Every one of these versions takes its package from Azure Storage.
      test(title, {
        skip: "the example's application version takes its package (mediaLink) from Azure Storage (*.blob.core.windows.net), which cannot be reached from here; application versions are tested against Azurite in test/gallery/application-versions.test.ts",
      });
    } else if (IMPLEMENTED[ex.operationId]) {
      test(title, (tt) => replay(t, ex, byName, tt));
    } else {
      const issue = NOT_YET.find(([re]) => re.test(ex.operationId))?.[1] ?? "not implemented";
      test(title, { todo: issue });
    }
  }
}
