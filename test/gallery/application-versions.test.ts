/**
 * Gallery application versions with the real @azure/arm-compute client, their package and default
 * configuration read from Azurite (started from its npm package) through SAS URLs: the files are
 * ingested once in the home region and copied to every replica, the recorded SHA-256 of each is
 * the source's, `$expand=ReplicationStatus` shows each region, a partial PUT keeps what it omits,
 * and bad input is a 4xx naming the property that leaves nothing behind.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { startAzurite, type Azurite } from "../helpers/azurite.js";
import { chunkCount } from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "app-versions-rg";
const GALLERY = "g";
const APP = "app";
const HOME = "eastus";
const CHUNK = 256 * 1024;

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * A plain HTTP proxy in front of Azurite that counts the data reads (GETs without `comp`) of each
 * blob path, to see how often a source is read.
 */
async function countingProxy(port: number) {
  const reads = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, "http://proxy");
    if (req.method === "GET" && !url.searchParams.has("comp")) {
      reads.set(url.pathname, (reads.get(url.pathname) ?? 0) + 1);
    }
    const upstream = request(
      { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxyPort = (server.address() as { port: number }).port;
  return {
    reads,
    /** `url` (an Azurite URL) through the proxy. */
    via: (url: string) => url.replace(`:${port}/`, `:${proxyPort}/`),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe("gallery application versions", () => {
  let t: TestServer;
  let az: Azurite;
  let proxy: Awaited<ReturnType<typeof countingProxy>>;
  // Six chunks of package (one of them zeros, which is never stored) and one of configuration.
  const pkg = Buffer.concat([randomBytes(4 * CHUNK), Buffer.alloc(CHUNK), randomBytes(CHUNK / 2)]);
  const config = Buffer.alloc(1024, " ");
  config.write('{ "greeting": "hello" }\n');
  const chunksPerReplica = 5 + 1;
  const versions = () =>
    `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/${GALLERY}/applications/${APP}/versions`;

  before(async () => {
    [t, az] = await Promise.all([startTestServer(), startAzurite()]);
    proxy = await countingProxy(az.port);
    const c = az.service.getContainerClient("apps");
    await c.create();
    await c.getBlockBlobClient("package.zip").uploadData(pkg);
    await c.getBlockBlobClient("spare.zip").uploadData(randomBytes(1000));
    // The recording's mediaLink was a page blob: configuration as one here.
    await c.getPageBlobClient("config.json").create(config.length);
    await c.getPageBlobClient("config.json").uploadPages(config, 0, config.length);
    await t.resources.resourceGroups.createOrUpdate(RG, { location: HOME });
    await t.compute.galleries.beginCreateOrUpdateAndWait(RG, GALLERY, { location: HOME });
    await t.compute.galleryApplications.beginCreateOrUpdateAndWait(RG, GALLERY, APP, {
      location: HOME,
      supportedOSType: "Linux",
    });
  });
  after(async () => {
    await t?.close();
    await proxy?.close();
    await az?.stop();
  });

  it("publishes a package and its configuration to three replicas in two regions", async () => {
    const mediaLink = proxy.via(az.sasUrl("apps", "package.zip"));
    const v = await t.compute.galleryApplicationVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      APP,
      "1.0.0",
      {
        location: HOME,
        publishingProfile: {
          source: {
            mediaLink,
            defaultConfigurationLink: proxy.via(az.sasUrl("apps", "config.json")),
          },
          manageActions: { install: "unzip package.zip", remove: "rm -rf app" },
          settings: { packageFileName: "package.zip", configFileName: "config.json" },
          targetRegions: [{ name: HOME, regionalReplicaCount: 2 }, { name: "West US" }],
        },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    const profile = v.publishingProfile!;
    assert.equal(profile.source.mediaLink, mediaLink);
    assert.equal(profile.manageActions?.install, "unzip package.zip");
    assert.equal(profile.manageActions?.remove, "rm -rf app");
    assert.equal(profile.settings?.packageFileName, "package.zip");
    assert.equal(profile.settings?.configFileName, "config.json");
    // Azure's defaults (SHAPES.md §9, checklist item 40).
    assert.equal(profile.enableHealthCheck, false);
    assert.equal(profile.replicaCount, 1);
    assert.equal(profile.excludeFromLatest, false);
    assert.equal(profile.storageAccountType, "Standard_LRS");
    assert.ok(profile.publishedDate instanceof Date);
    assert.deepEqual(
      profile.targetRegions!.map((r) => [r.name, r.regionalReplicaCount, r.storageAccountType]),
      [
        ["East US", 2, "Standard_LRS"],
        ["West US", 1, "Standard_LRS"],
      ],
    );
    assert.equal(v.safetyProfile, undefined);

    const expanded = await t.compute.galleryApplicationVersions.get(RG, GALLERY, APP, "1.0.0", {
      expand: "ReplicationStatus",
    });
    assert.deepEqual(expanded.replicationStatus, {
      aggregatedState: "Completed",
      summary: [
        { region: "East US", state: "Completed", details: "", progress: 100 },
        { region: "West US", state: "Completed", details: "", progress: 100 },
      ],
    });

    // Each file was read once, by the first replica in the home region; the others copied it...
    assert.deepEqual(Object.fromEntries(proxy.reads), {
      "/devstoreaccount1/apps/package.zip": 1,
      "/devstoreaccount1/apps/config.json": 1,
    });
    // ...so every replica holds both files (the all-zero chunk is never stored)...
    for (const location of ["eastus-1", "eastus-2", "westus"]) {
      assert.equal(chunkCount(t.dataDir, location), chunksPerReplica, location);
    }
    // ...and what was stored is what the blobs hold.
    const raw = await call(t, "GET", `${versions()}/1.0.0?api-version=2022-01-03`);
    const source = raw.json.properties.publishingProfile.source;
    assert.equal(source.mediaLinkSha256, sha256(pkg));
    assert.equal(source.defaultConfigurationLinkSha256, sha256(config));
    assert.deepEqual(Object.keys(raw.json.properties), ["publishingProfile", "provisioningState"]);
    assert.deepEqual(Object.keys(raw.json.properties.publishingProfile), [
      "source",
      "manageActions",
      "settings",
      "enableHealthCheck",
      "targetRegions",
      "replicaCount",
      "excludeFromLatest",
      "publishedDate",
      "storageAccountType",
    ]);
  });

  it("adds a region by copying the stored files, never reading the source again", async () => {
    const c = az.service.getContainerClient("apps");
    await c.getBlobClient("package.zip").delete();
    await c.getBlobClient("config.json").delete();
    const v = await t.compute.galleryApplicationVersions.beginUpdateAndWait(
      RG,
      GALLERY,
      APP,
      "1.0.0",
      {
        publishingProfile: {
          source: { mediaLink: proxy.via(az.sasUrl("apps", "package.zip")) },
          enableHealthCheck: true,
          targetRegions: [
            { name: HOME, regionalReplicaCount: 2 },
            { name: "westus" },
            { name: "westeurope" },
          ],
        },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    assert.equal(v.publishingProfile?.enableHealthCheck, true);
    assert.equal(v.publishingProfile?.manageActions?.install, "unzip package.zip");
    assert.equal(chunkCount(t.dataDir, "westeurope-1"), chunksPerReplica);
    const status = await t.compute.galleryApplicationVersions.get(RG, GALLERY, APP, "1.0.0", {
      expand: "ReplicationStatus",
    });
    assert.equal(status.replicationStatus?.aggregatedState, "Completed");
    assert.equal(proxy.reads.get("/devstoreaccount1/apps/package.zip"), 1);
  });

  it("keeps manageActions and settings on a PUT that omits them, as Azure does", async () => {
    // test_gallery_application_version#26: the CLI's update sends the mediaLink and tags only.
    const res = await call(t, "PUT", `${versions()}/1.0.0?api-version=2022-01-03`, {
      body: {
        location: HOME,
        tags: { tag: "test" },
        properties: {
          publishingProfile: {
            source: { mediaLink: proxy.via(az.sasUrl("apps", "package.zip")) },
          },
        },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.ok(res.headers.get("azure-asyncoperation"));
    assert.equal(res.headers.get("location"), null);
    assert.equal(res.json.properties.provisioningState, "Updating");
    const profile = res.json.properties.publishingProfile;
    assert.deepEqual(res.json.tags, { tag: "test" });
    assert.equal(profile.manageActions.remove, "rm -rf app");
    assert.equal(profile.settings.configFileName, "config.json");
    assert.equal(profile.source.mediaLinkSha256, sha256(pkg));
    assert.equal(profile.targetRegions.length, 3);

    // The files are fixed once the version exists: another blob is refused.
    const other = await call(t, "PUT", `${versions()}/1.0.0?api-version=2022-01-03`, {
      body: {
        location: HOME,
        properties: {
          publishingProfile: { source: { mediaLink: az.sasUrl("apps", "spare.zip") } },
        },
      },
    });
    assert.equal(other.status, 409, other.text);
    assert.equal(other.json.error.code, "PropertyChangeNotAllowed");
    assert.equal(other.json.error.target, "properties.publishingProfile.source.mediaLink");
  });

  it("lists versions and deletes them (202 with both poll headers)", async () => {
    await t.compute.galleryApplicationVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      APP,
      "1.0.1",
      {
        location: HOME,
        publishingProfile: {
          source: { mediaLink: az.sasUrl("apps", "spare.zip") },
          manageActions: { install: "i", remove: "r" },
        },
        safetyProfile: { allowDeletionOfReplicatedLocations: true },
      },
    );
    const names: string[] = [];
    for await (const v of t.compute.galleryApplicationVersions.listByGalleryApplication(
      RG,
      GALLERY,
      APP,
    )) {
      names.push(v.name!);
    }
    assert.deepEqual(names.sort(), ["1.0.0", "1.0.1"]);
    const spare = await t.compute.galleryApplicationVersions.get(RG, GALLERY, APP, "1.0.1");
    assert.equal(spare.safetyProfile?.allowDeletionOfReplicatedLocations, true);

    const del = await call(t, "DELETE", `${versions()}/1.0.1?api-version=2022-01-03`);
    assert.equal(del.status, 202);
    assert.equal(del.text, "");
    assert.ok(del.headers.get("azure-asyncoperation"));
    assert.match(String(del.headers.get("location")), /monitor=true/);
    assert.equal(
      (await call(t, "DELETE", `${versions()}/1.0.1?api-version=2022-01-03`)).status,
      204,
    );
    await t.compute.galleryApplicationVersions.beginDeleteAndWait(RG, GALLERY, APP, "1.0.0");
    await assert.rejects(
      t.compute.galleryApplicationVersions.get(RG, GALLERY, APP, "1.0.0"),
      (e: any) => e.statusCode === 404,
    );
    const list = await call(t, "GET", `${versions()}?api-version=2022-01-03`);
    assert.deepEqual(list.json, { value: [] });
  });

  it("refuses bad input with an ARM error naming the property, and creates nothing", async () => {
    const before = chunkCount(t.dataDir, "eastus-1");
    const good = () => az.sasUrl("apps", "spare.zip");
    const profile = (extra: object = {}) => ({
      publishingProfile: { source: { mediaLink: good() }, ...extra },
    });
    const cases: [string, unknown, number, string, RegExp?][] = [
      [
        "2.0.0",
        { publishingProfile: { source: {} } },
        400,
        "properties.publishingProfile.source.mediaLink",
        /missing/,
      ],
      ["2.0.0", { publishingProfile: {} }, 400, "properties.publishingProfile.source"],
      [
        "2.0.0",
        { publishingProfile: { source: { mediaLink: az.sasUrl("apps", "missing.zip") } } },
        400,
        "properties.publishingProfile.source.mediaLink",
        /is not accessible/,
      ],
      [
        "2.0.0",
        { publishingProfile: { source: { mediaLink: az.sasUrl("nocontainer", "p.zip") } } },
        400,
        "properties.publishingProfile.source.mediaLink",
        /is not accessible/,
      ],
      [
        "2.0.0",
        {
          publishingProfile: {
            source: {
              mediaLink: az.sasUrl("apps", "spare.zip", {
                expiresOn: new Date(Date.now() - 60_000),
              }),
            },
          },
        },
        400,
        "properties.publishingProfile.source.mediaLink",
        /is not accessible/,
      ],
      [
        "2.0.0",
        { publishingProfile: { source: { mediaLink: "package.zip" } } },
        400,
        "properties.publishingProfile.source.mediaLink",
        /must be an absolute uri/,
      ],
      [
        "2.0.0",
        {
          publishingProfile: {
            source: {
              mediaLink: good(),
              defaultConfigurationLink: az.sasUrl("apps", "missing-config.json"),
            },
          },
        },
        400,
        "properties.publishingProfile.source.defaultConfigurationLink",
        /is not accessible/,
      ],
      ["2.0", profile(), 400, "galleryApplicationVersionName", /Major\(int\)/],
      ["2.0.x", profile(), 400, "galleryApplicationVersionName"],
      [
        "2.0.0",
        profile({ targetRegions: [{ name: HOME }, { name: "East US" }] }),
        400,
        "properties.publishingProfile.targetRegions[1].name",
        /Duplicate regions/,
      ],
      [
        "2.0.0",
        profile({ targetRegions: [{ name: "westus" }] }),
        400,
        "properties.publishingProfile.targetRegions",
      ],
      [
        "2.0.0",
        profile({ targetRegions: [{ name: HOME }, { name: "australiacentral" }] }),
        400,
        "properties.publishingProfile.targetRegions[1].name",
      ],
      [
        "2.0.0",
        profile({
          targetRegions: [{ name: HOME }, { name: "westus", storageAccountType: "Standard_ZRS" }],
        }),
        400,
        "properties.publishingProfile.targetRegions[1].storageAccountType",
      ],
      ["2.0.0", profile({ replicaCount: 51 }), 400, "properties.publishingProfile.replicaCount"],
      [
        "2.0.0",
        profile({
          targetRegions: [
            { name: HOME, regionalReplicaCount: 50 },
            { name: "westus", regionalReplicaCount: 50 },
            { name: "westeurope" },
          ],
        }),
        400,
        "properties.publishingProfile.targetRegions",
        /at most 100/,
      ],
      [
        "2.0.0",
        profile({
          customActions: [
            { name: "a", script: "x" },
            { name: "a", script: "y" },
          ],
        }),
        400,
        "properties.publishingProfile.customActions[1].name",
      ],
    ];
    for (const [name, properties, status, target, message] of cases) {
      const res = await call(t, "PUT", `${versions()}/${name}?api-version=2024-03-03`, {
        body: { location: HOME, properties },
      });
      const what = `${name} ${JSON.stringify(properties)}: ${res.text}`;
      assert.equal(res.status, status, what);
      assert.equal(res.json.error.target, target, what);
      if (message) assert.match(res.json.error.message, message, what);
      assert.doesNotMatch(res.json.error.message, /sig=|se=/, "the SAS is never echoed");
    }
    const missingApp = await call(
      t,
      "PUT",
      `${versions().replace(`/applications/${APP}/`, "/applications/nope/")}/2.0.0?api-version=2024-03-03`,
      { body: { location: HOME, properties: profile() } },
    );
    assert.equal(missingApp.status, 404);
    assert.equal(missingApp.json.error.target, "galleryApplicationName");

    const list = await call(t, "GET", `${versions()}?api-version=2024-03-03`);
    assert.deepEqual(list.json, { value: [] });
    assert.equal(chunkCount(t.dataDir, "eastus-1"), before);
  });
});
