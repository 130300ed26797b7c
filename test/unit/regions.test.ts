/**
 * The region catalog: zones and storage locations, where a replica or a disk is placed, and the
 * access check for restricted regions (against a real SQLite store).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config/config.js";
import { ValidationError } from "../../src/domain/errors.js";
import { RegionCatalog } from "../../src/domain/regions.js";
import type { Store } from "../../src/domain/resource.js";
import { openStore } from "../../src/store/open-store.js";
import { tempDir } from "../helpers/server.js";

const catalog = new RegionCatalog(loadConfig({ dataDir: "/data" }, {}).regions);

/** Asserts that `fn` throws a ValidationError with this code, naming `target`. */
function refuses(fn: () => unknown, code: string, target: string, message?: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.target, target);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test("each zone, or a zoneless region, is one storage location", () => {
  assert.deepEqual(catalog.storageLocations("eastus"), [
    { id: "eastus-1", region: "eastus", zone: "1", path: "/data/blobs/eastus-1" },
    { id: "eastus-2", region: "eastus", zone: "2", path: "/data/blobs/eastus-2" },
    { id: "eastus-3", region: "eastus", zone: "3", path: "/data/blobs/eastus-3" },
  ]);
  assert.deepEqual(catalog.storageLocations("West US"), [
    { id: "westus", region: "westus", zone: null, path: "/data/blobs/westus" },
  ]);
  assert.deepEqual(catalog.storageLocations("nowhere"), []);
  assert.equal(catalog.storageLocation("westeurope-2")?.path, "/data/blobs/westeurope-2");
  assert.equal(catalog.storageLocation("eastus"), undefined, "a zoned region is no location");
  assert.equal(catalog.isZonal("eastus"), true);
  assert.equal(catalog.isZonal("westus"), false);
  assert.equal(catalog.isZonal("australiacentral"), false);
  assert.equal(catalog.find("Australia Central")?.restricted, true);
  assert.equal(catalog.allStorageLocations().length, 8);
  // Without settings for storage, locations go under the data dir given.
  const bare = new RegionCatalog([{ name: "eastus", zones: ["1"] }], { dataDir: "/d" });
  assert.equal(bare.storageLocation("eastus-1")?.path, join("/d", "blobs", "eastus-1"));
});

describe("placeReplica", () => {
  test("ZRS: every zone of the region", () => {
    for (const ordinal of [0, 1, 5]) {
      assert.deepEqual(catalog.placeReplica("eastus", ordinal, "Standard_ZRS"), [
        "eastus-1",
        "eastus-2",
        "eastus-3",
      ]);
    }
  });

  test("ZRS in a region without zones is refused, naming the property", () => {
    refuses(
      () =>
        catalog.placeReplica(
          "westus",
          0,
          "Standard_ZRS",
          "publishingProfile.targetRegions[1].storageAccountType",
        ),
      "InvalidParameter",
      "publishingProfile.targetRegions[1].storageAccountType",
      /'Standard_ZRS' is not supported in region 'westus'/,
    );
    refuses(
      () => catalog.placeReplica("australiacentral", 0, "Premium_ZRS"),
      "InvalidParameter",
      "storageAccountType",
    );
  });

  test("LRS: one zone per replica, round-robin by ordinal", () => {
    const placed = [0, 1, 2, 3, 4].map((i) =>
      catalog.placeReplica("westeurope", i, "Standard_LRS"),
    );
    assert.deepEqual(placed, [
      ["westeurope-1"],
      ["westeurope-2"],
      ["westeurope-3"],
      ["westeurope-1"],
      ["westeurope-2"],
    ]);
    assert.deepEqual(catalog.placeReplica("eastus", 1, "Premium_LRS"), ["eastus-2"]);
    assert.deepEqual(catalog.placeReplica("eastus", 2, "PremiumV2_LRS"), ["eastus-3"]);
    assert.deepEqual(catalog.placeReplica("westus", 7, "Standard_LRS"), ["westus"]);
  });

  test("an unknown region or a bad ordinal is refused", () => {
    refuses(
      () => catalog.placeReplica("mars", 0, "Standard_LRS"),
      "LocationNotAvailableForResourceType",
      "location",
    );
    assert.throws(() => catalog.placeReplica("eastus", -1, "Standard_LRS"), RangeError);
  });
});

describe("diskStorageLocation", () => {
  const id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d";
  test("the zone asked for, else the first zone, else the region's one location", () => {
    assert.equal(catalog.diskStorageLocation("eastus", undefined).id, "eastus-1");
    assert.equal(catalog.diskStorageLocation("eastus", []).id, "eastus-1");
    assert.equal(catalog.diskStorageLocation("East US", ["3"]).id, "eastus-3");
    assert.equal(catalog.diskStorageLocation("westus", undefined).id, "westus");
  });

  test("Azure's errors for a zone the region lacks and for several zones", () => {
    refuses(
      () => catalog.diskStorageLocation("eastus", ["4"], { resourceId: id }),
      "AvailabilityZoneNotSupported",
      "zones",
      new RegExp(
        `^The zone\\(s\\) '4' for resource '${id}' is not supported. The supported zones for location 'eastus' are '1,2,3'.$`,
      ),
    );
    refuses(
      () => catalog.diskStorageLocation("westus", ["1"]),
      "AvailabilityZoneNotSupported",
      "zones",
      /supported zones for location 'westus' are ''/,
    );
    refuses(
      () => catalog.diskStorageLocation("eastus", ["1", "2"]),
      "ResourceTypeNotSupportMultiZones",
      "zones",
      /The resource type 'disks' does not support multiple availability zones. The provided zones are '1,2'/,
    );
  });
});

describe("requireAccess", () => {
  let store: Store;
  const sub = "8a1d6b2c-0000-4000-8000-000000000001";
  before(async () => {
    store = await openStore(`sqlite:${join(tempDir("regions"), "metadata.db")}`);
  });
  after(() => store?.close());

  test("open regions need nothing; a restricted one needs a grant", async () => {
    assert.equal((await catalog.requireAccess(store.regionAccess, sub, "East US")).name, "eastus");
    await assert.rejects(
      catalog.requireAccess(store.regionAccess, sub, "australiacentral", {
        target: "publishingProfile.targetRegions[0].name",
        resourceType: "Microsoft.Compute/galleries/images/versions",
      }),
      (e: unknown) => {
        assert.ok(e instanceof ValidationError);
        assert.equal(e.code, "LocationNotAvailableForResourceType");
        assert.equal(e.target, "publishingProfile.targetRegions[0].name");
        assert.equal(
          e.message,
          "The provided location 'australiacentral' is not available for resource type 'Microsoft.Compute/galleries/images/versions'. List of available regions for the resource type is 'eastus,westeurope,westus'.",
        );
        return true;
      },
    );
    await store.regionAccess.grant({
      region: "australiacentral",
      subscriptionId: sub.toUpperCase(),
      grantedAt: new Date().toISOString(),
      grantedBy: "test",
    });
    assert.equal(
      (await catalog.requireAccess(store.regionAccess, sub, "Australia Central")).name,
      "australiacentral",
    );
    await store.regionAccess.revoke(sub, "australiacentral");
    await assert.rejects(
      catalog.requireAccess(store.regionAccess, sub, "australiacentral"),
      (e: unknown) => e instanceof ValidationError && e.target === "location",
    );
  });

  test("an unknown region is refused as before", async () => {
    await assert.rejects(
      catalog.requireAccess(store.regionAccess, sub, "mars"),
      (e: unknown) =>
        e instanceof ValidationError &&
        /List of available regions for the resource type is 'eastus,westeurope,westus,australiacentral'/.test(
          e.message,
        ),
    );
  });
});
