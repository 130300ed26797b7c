/**
 * Galleries, image definitions and applications driven by the real @azure/arm-compute client
 * (and raw HTTPS where the wire itself is what users depend on).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
let sub: string;
const rg = "gallery-tests";
const gallery = (name: string) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${name}`;
const linux = (sku: string) => ({
  location: "eastus",
  osType: "Linux" as const,
  osState: "Generalized" as const,
  identifier: { publisher: "contoso", offer: "ubuntu", sku },
});

before(async () => {
  t = await startTestServer();
  sub = t.credentials.subscriptionId;
  await t.resources.resourceGroups.createOrUpdate(rg, { location: "eastus" });
});
after(() => t.close());

describe("galleries", () => {
  test("PUT answers 201 Creating with an async operation that has already succeeded", async () => {
    const res = await call(t, "PUT", `${gallery("wire1")}?api-version=2021-10-01`, {
      body: { location: "eastus", tags: {} },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.json), [
      "name",
      "id",
      "type",
      "location",
      "tags",
      "properties",
    ]);
    assert.equal(res.json.properties.provisioningState, "Creating");
    assert.equal(res.json.properties.identifier.uniqueName, `${sub}-WIRE1`);
    assert.equal(res.headers.get("location"), null);
    assert.ok(res.headers.get("x-ms-request-id"));
    const asyncUrl = res.headers.get("azure-asyncoperation")!;
    assert.match(
      asyncUrl,
      new RegExp(
        `/subscriptions/${sub}/providers/Microsoft.Compute/locations/eastus/capsOperations/[0-9a-f-]{36}\\?api-version=2021-10-01$`,
      ),
    );
    const op = await call(t, "GET", new URL(asyncUrl).pathname + new URL(asyncUrl).search);
    assert.equal(op.status, 200);
    assert.equal(op.json.status, "Succeeded");
    assert.match(op.json.startTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00$/);
    const again = await call(t, "PUT", `${gallery("wire1")}?api-version=2021-10-01`, {
      body: { location: "eastus", tags: {} },
    });
    assert.equal(again.status, 200);
    assert.equal(again.json.properties.provisioningState, "Updating");
  });

  test("SDK creates, reads, updates, lists and deletes a gallery", async () => {
    const created = await t.compute.galleries.createOrUpdate(rg, "sdkGallery", {
      location: "eastus",
      description: "first",
      tags: { team: "platform" },
    });
    assert.equal(created.provisioningState, "Succeeded");
    assert.equal(created.identifier?.uniqueName, `${sub}-SDKGALLERY`);
    const updated = await t.compute.galleries.update(rg, "sdkGallery", { description: "second" });
    assert.equal(updated.description, "second");
    assert.deepEqual(updated.tags, { team: "platform" }, "PATCH without tags keeps them");
    const got = await t.compute.galleries.get(rg, "SDKGALLERY");
    assert.equal(got.name, "sdkGallery", "names are case-insensitive, spelling is the creator's");
    const inGroup = [];
    for await (const g of t.compute.galleries.listByResourceGroup(rg)) inGroup.push(g.name);
    assert.ok(inGroup.includes("sdkGallery"));
    const inSub = [];
    for await (const g of t.compute.galleries.list()) inSub.push(g.name);
    assert.ok(inSub.includes("sdkGallery"));
    await t.compute.galleries.delete(rg, "sdkGallery");
    await assert.rejects(t.compute.galleries.get(rg, "sdkGallery"), {
      statusCode: 404,
      code: "ResourceNotFound",
    });
  });

  test("a gallery that holds definitions can't be deleted, and can the moment they are gone", async () => {
    await t.compute.galleries.createOrUpdate(rg, "parent", { location: "eastus" });
    await t.compute.galleryImages.createOrUpdate(rg, "parent", "child", linux("child"));
    const refused = await call(t, "DELETE", `${gallery("parent")}?api-version=2025-12-03`);
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, "CannotDeleteResource");
    assert.match(
      refused.json.error.message,
      /Microsoft\.Compute\/galleries\/parent\/images\/child/,
    );
    await t.compute.galleryImages.delete(rg, "parent", "child");
    const res = await call(t, "DELETE", `${gallery("parent")}?api-version=2025-12-03`);
    assert.equal(res.status, 202);
    const monitor = new URL(res.headers.get("location")!);
    assert.equal(monitor.searchParams.get("monitor"), "true");
    assert.ok(res.headers.get("azure-asyncoperation"));
    const done = await call(t, "GET", monitor.pathname + monitor.search);
    assert.equal(done.status, 200);
    assert.equal(done.text, "");
    const gone = await call(t, "GET", `${gallery("parent")}?api-version=2025-12-03`);
    assert.equal(gone.status, 404, "read-after-write: a deleted gallery is gone at once");
    const twice = await call(t, "DELETE", `${gallery("parent")}?api-version=2025-12-03`);
    assert.equal(twice.status, 204);
  });

  test("a gallery can't move to another location under the same name", async () => {
    await t.compute.galleries.createOrUpdate(rg, "stay", { location: "eastus" });
    await assert.rejects(t.compute.galleries.createOrUpdate(rg, "stay", { location: "westus" }), {
      code: "InvalidResourceLocation",
    });
  });

  test("a location the server doesn't serve is refused", async () => {
    await assert.rejects(
      t.compute.galleries.createOrUpdate(rg, "nowhere", { location: "marsnorth" }),
      {
        statusCode: 400,
        code: "LocationNotAvailableForResourceType",
      },
    );
  });

  test("community galleries get a public name when created", async () => {
    const g = await t.compute.galleries.createOrUpdate(rg, "community1", {
      location: "eastus",
      sharingProfile: {
        permissions: "Community",
        communityGalleryInfo: {
          publisherUri: "https://contoso.example",
          publisherContact: "images@contoso.example",
          eula: "eula",
          publicNamePrefix: "contoso",
        },
      },
    });
    const info = g.sharingProfile?.communityGalleryInfo;
    assert.equal(info?.communityGalleryEnabled, false);
    assert.match(info?.publicNames?.[0] ?? "", /^contoso-[0-9a-f-]{36}$/);
  });
});

describe("image definitions", () => {
  before(() => t.compute.galleries.createOrUpdate(rg, "images", { location: "eastus" }));

  test("from api-version 2025-03-03 a new definition defaults to V2 with Trusted Launch supported", async () => {
    const img = await t.compute.galleryImages.createOrUpdate(rg, "images", "gen2", linux("gen2"));
    assert.equal(img.hyperVGeneration, "V2");
    assert.equal(img.architecture, "x64");
    assert.deepEqual(
      img.features?.map((f) => [f.name, f.value]),
      [["SecurityType", "TrustedLaunchSupported"]],
    );
    assert.equal(img.provisioningState, "Succeeded");
  });

  test("older api-versions default to V1 and drop empty disallowed/features", async () => {
    const res = await call(t, "PUT", `${gallery("images")}/images/gen1?api-version=2021-10-01`, {
      body: {
        location: "eastus",
        tags: {},
        properties: { ...linux("gen1"), location: undefined, disallowed: {}, features: [] },
      },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.json.properties), [
      "hyperVGeneration",
      "architecture",
      "osType",
      "osState",
      "identifier",
      "provisioningState",
    ]);
    assert.equal(res.json.properties.hyperVGeneration, "V1");
  });

  test("repeated GETs answer the last write, each in its api-version's shape", async () => {
    const url = (apiVersion: string) =>
      `${gallery("images")}/images/polled?api-version=${apiVersion}`;
    const get = async (apiVersion: string) => {
      const first = await call(t, "GET", url(apiVersion));
      const again = await call(t, "GET", url(apiVersion));
      assert.equal(again.status, first.status);
      assert.equal(again.text, first.text, "a repeated GET answers the same");
      assert.equal(again.headers.get("content-type"), "application/json; charset=utf-8");
      assert.notEqual(again.headers.get("x-ms-request-id"), first.headers.get("x-ms-request-id"));
      return again;
    };
    const put = (description: string) =>
      t.compute.galleryImages.createOrUpdate(rg, "images", "polled", {
        ...linux("polled"),
        description,
      });
    await put("one");
    for (let round = 0; round < 2; round++) {
      const old = await get("2021-07-01");
      assert.equal(old.json.properties.description, "one");
      assert.equal(old.json.properties.architecture, undefined, "2021-07-01 has no architecture");
      assert.equal((await get("2021-10-01")).json.properties.architecture, "x64");
    }

    await t.compute.galleryImages.update(rg, "images", "polled", { description: "two" });
    assert.equal((await get("2021-07-01")).json.properties.description, "two");
    assert.equal((await get("2025-03-03")).json.properties.description, "two");

    await t.compute.galleryImages.delete(rg, "images", "polled");
    const gone = await get("2025-03-03");
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.code, "ResourceNotFound");

    await put("three");
    assert.equal((await get("2025-03-03")).json.properties.description, "three");
    // Any casing of the path is the same resource, and answers its current state.
    const upper = await call(
      t,
      "GET",
      url("2025-03-03").replace("/images/polled", "/IMAGES/POLLED"),
    );
    assert.equal(upper.json.properties.description, "three");
  });

  test("Trusted Launch on a V1 definition is refused", async () => {
    await assert.rejects(
      t.compute.galleryImages.createOrUpdate(rg, "images", "tlv1", {
        ...linux("tlv1"),
        hyperVGeneration: "V1",
        features: [{ name: "SecurityType", value: "TrustedLaunch" }],
      }),
      { statusCode: 400, code: "InvalidParameter" },
    );
    await assert.rejects(t.compute.galleryImages.get(rg, "images", "tlv1"), { statusCode: 404 });
  });

  test("osType, osState, generation and identifier can't change", async () => {
    await t.compute.galleryImages.createOrUpdate(rg, "images", "fixed", linux("fixed"));
    const res = await call(t, "PUT", `${gallery("images")}/images/fixed?api-version=2025-12-03`, {
      body: {
        location: "eastus",
        properties: { ...linux("fixed"), location: undefined, osType: "Windows" },
      },
    });
    assert.equal(res.status, 409);
    assert.equal(res.json.error.code, "PropertyChangeNotAllowed");
    assert.equal(res.json.error.target, "galleryImage.properties.osType");
    await assert.rejects(
      t.compute.galleryImages.update(rg, "images", "fixed", {
        identifier: { publisher: "x", offer: "y", sku: "z" },
      }),
      {
        statusCode: 409,
        code: "PropertyChangeNotAllowed",
      },
    );
    const patched = await t.compute.galleryImages.update(rg, "images", "fixed", {
      description: "d",
      eula: "e",
    });
    assert.equal(patched.description, "d");
    assert.equal(patched.osType, "Linux");
    assert.equal((await t.compute.galleryImages.get(rg, "images", "fixed")).eula, "e");
  });

  test("publisher/offer/sku is unique within a gallery", async () => {
    await t.compute.galleryImages.createOrUpdate(rg, "images", "one", linux("dup"));
    await assert.rejects(
      t.compute.galleryImages.createOrUpdate(rg, "images", "two", linux("DUP")),
      {
        statusCode: 409,
        code: "OperationNotAllowed",
      },
    );
    await assert.rejects(t.compute.galleryImages.get(rg, "images", "two"), { statusCode: 404 });
  });

  test("creating under a missing gallery names the parent", async () => {
    await assert.rejects(t.compute.galleryImages.createOrUpdate(rg, "nosuch", "x", linux("x")), {
      statusCode: 404,
      code: "ParentResourceNotFound",
    });
  });
});

describe("gallery applications", () => {
  before(() => t.compute.galleries.createOrUpdate(rg, "apps", { location: "eastus" }));

  test("applications are synchronous: 201 with no async header and no provisioningState", async () => {
    const res = await call(
      t,
      "PUT",
      `${gallery("apps")}/applications/app1?api-version=2021-07-01`,
      {
        body: { location: "eastus", properties: { supportedOSType: "windows" } },
      },
    );
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("azure-asyncoperation"), null);
    assert.deepEqual(res.json.properties, { supportedOSType: "Windows" });
    assert.equal("tags" in res.json, false);
    const patched = await t.compute.galleryApplications.update(rg, "apps", "app1", {
      description: "test",
      tags: { tag: "test" },
    });
    assert.equal(patched.description, "test");
    assert.deepEqual(patched.tags, { tag: "test" });
    await assert.rejects(
      t.compute.galleryApplications.update(rg, "apps", "app1", { supportedOSType: "Linux" }),
      {
        code: "PropertyChangeNotAllowed",
      },
    );
    const names = [];
    for await (const a of t.compute.galleryApplications.listByGallery(rg, "apps"))
      names.push(a.name);
    assert.deepEqual(names, ["app1"]);
    const del = await call(
      t,
      "DELETE",
      `${gallery("apps")}/applications/app1?api-version=2021-07-01`,
    );
    assert.equal(del.status, 200);
    await assert.rejects(t.compute.galleryApplications.get(rg, "apps", "app1"), {
      statusCode: 404,
    });
  });
});
