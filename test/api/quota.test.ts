/** Per-subscription, per-region limits and the usages API that shows them. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer({ limits: { galleriesPerRegion: 2, imageDefinitionsPerRegion: 1 } });
  await t.resources.resourceGroups.createOrUpdate("q", { location: "eastus" });
});
after(() => t.close());

const usages = async (region: string) => {
  const res = await call(
    t,
    "GET",
    `/subscriptions/${t.credentials.subscriptionId}/providers/Microsoft.Compute/locations/${region}/usages?api-version=2024-07-01`,
  );
  return Object.fromEntries(
    res.json.value.map((u: any) => [u.name.value, [u.currentValue, u.limit]]),
  );
};

test("a region's gallery quota is enforced and freed by deletes; other regions are separate", async () => {
  await t.compute.galleries.createOrUpdate("q", "g1", { location: "eastus" });
  await t.compute.galleries.createOrUpdate("q", "g2", { location: "eastus" });
  assert.deepEqual((await usages("eastus")).galleries, [2, 2]);
  await assert.rejects(
    t.compute.galleries.createOrUpdate("q", "g3", { location: "eastus" }),
    (err: any) => {
      assert.equal(err.statusCode, 409);
      assert.equal(err.code, "OperationNotAllowed");
      assert.match(err.message, /Current Limit: 2, Current Usage: 2/);
      return true;
    },
  );
  await assert.rejects(t.compute.galleries.get("q", "g3"), { statusCode: 404 });
  await t.compute.galleries.createOrUpdate("q", "g1", {
    location: "eastus",
    description: "an update is no new gallery",
  });
  await t.compute.galleries.createOrUpdate("q", "w1", { location: "westus" });
  await t.compute.galleries.delete("q", "g2");
  await t.compute.galleries.createOrUpdate("q", "g3", { location: "eastus" });
  assert.deepEqual((await usages("eastus")).galleries, [2, 2]);
  assert.deepEqual((await usages("West US")).galleries, [1, 2]);
});

test("image definition quota", async () => {
  const def = (sku: string) => ({
    location: "eastus",
    osType: "Linux" as const,
    osState: "Generalized" as const,
    identifier: { publisher: "p", offer: "o", sku },
  });
  await t.compute.galleryImages.createOrUpdate("q", "g1", "d1", def("a"));
  await assert.rejects(t.compute.galleryImages.createOrUpdate("q", "g3", "d2", def("b")), {
    statusCode: 409,
    code: "OperationNotAllowed",
  });
  assert.deepEqual((await usages("eastus")).galleryImages, [1, 1]);
});
