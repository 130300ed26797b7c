import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test("SDK creates a resource group, gallery and image definition", async () => {
  await t.resources.resourceGroups.createOrUpdate("rg1", { location: "eastus" });
  const g = await t.compute.galleries.createOrUpdate("rg1", "gal1", { location: "eastus" });
  assert.equal(g.provisioningState, "Succeeded");
  const img = await t.compute.galleryImages.createOrUpdate("rg1", "gal1", "img1", {
    location: "eastus",
    osType: "Linux",
    osState: "Generalized",
    identifier: { publisher: "p", offer: "o", sku: "s" },
  });
  assert.equal(img.hyperVGeneration, "V2");
});
