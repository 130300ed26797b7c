/** Resource groups through the real @azure/arm-resources client, and what deleting one does. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer({ pageSize: 2 });
});
after(() => t.close());

test("create, read, tag, list and check existence of resource groups", async () => {
  const created = await t.resources.resourceGroups.createOrUpdate("rg-a", {
    location: "westeurope",
    tags: { env: "lab" },
  });
  assert.equal(created.properties?.provisioningState, "Succeeded");
  assert.equal(created.id, `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/rg-a`);
  assert.equal((await t.resources.resourceGroups.get("RG-A")).location, "westeurope");
  const tagged = await t.resources.resourceGroups.update("rg-a", { tags: { env: "prod" } });
  assert.deepEqual(tagged.tags, { env: "prod" });
  assert.equal((await t.resources.resourceGroups.checkExistence("rg-a")).body, true);
  assert.equal((await t.resources.resourceGroups.checkExistence("rg-none")).body, false);
  for (const name of ["rg-b", "rg-c", "rg-d"]) {
    await t.resources.resourceGroups.createOrUpdate(name, { location: "eastus" });
  }
  const names = [];
  for await (const g of t.resources.resourceGroups.list()) names.push(g.name);
  assert.deepEqual(
    names.sort(),
    ["rg-a", "rg-b", "rg-c", "rg-d"],
    "paging (2 a page) loses nothing",
  );
  const firstPage = await call(
    t,
    "GET",
    `/subscriptions/${t.credentials.subscriptionId}/resourcegroups?api-version=2021-04-01`,
  );
  assert.equal(firstPage.json.value.length, 2);
  assert.match(firstPage.json.nextLink, /(\$|%24)skiptoken=/);
});

test("deleting a group deletes the galleries and definitions in it", async () => {
  await t.resources.resourceGroups.createOrUpdate("doomed", { location: "eastus" });
  await t.compute.galleries.createOrUpdate("doomed", "g1", { location: "eastus" });
  await t.compute.galleryImages.createOrUpdate("doomed", "g1", "i1", {
    location: "eastus",
    osType: "Linux",
    osState: "Generalized",
    identifier: { publisher: "p", offer: "o", sku: "s" },
  });
  await t.resources.resourceGroups.beginDeleteAndWait("doomed", { updateIntervalInMs: 10 });
  await assert.rejects(t.resources.resourceGroups.get("doomed"), {
    statusCode: 404,
    code: "ResourceGroupNotFound",
  });
  await assert.rejects(t.compute.galleries.get("doomed", "g1"), {
    statusCode: 404,
    code: "ResourceGroupNotFound",
  });
  await t.resources.resourceGroups.createOrUpdate("doomed", { location: "eastus" });
  await assert.rejects(t.compute.galleryImages.get("doomed", "g1", "i1"), { statusCode: 404 });
  const usage = await call(
    t,
    "GET",
    `/subscriptions/${t.credentials.subscriptionId}/providers/Microsoft.Compute/locations/eastus/usages?api-version=2024-07-01`,
  );
  const images = usage.json.value.find((u: any) => u.name.value === "galleryImages");
  assert.equal(images.currentValue, 0, "nothing of the group is left to count");
});

test("gallery resources can't be moved to another group", async () => {
  await t.resources.resourceGroups.createOrUpdate("src", { location: "eastus" });
  await t.resources.resourceGroups.createOrUpdate("dst", { location: "eastus" });
  const g = await t.compute.galleries.createOrUpdate("src", "movable", { location: "eastus" });
  const dst = (await t.resources.resourceGroups.get("dst")).id!;
  await assert.rejects(
    t.resources.resources.beginMoveResourcesAndWait("src", {
      resources: [g.id!],
      targetResourceGroup: dst,
    }),
    (err: any) => {
      assert.equal(err.code, "ResourceMoveValidationFailed");
      assert.equal(
        err.details?.[0]?.code ??
          err.details?.error?.details?.[0]?.code ??
          "ResourceMoveNotSupported",
        "ResourceMoveNotSupported",
      );
      return true;
    },
  );
  assert.equal((await t.compute.galleries.get("src", "movable")).name, "movable");
});
