/**
 * Regions through the API with the real clients: restricted regions refuse new resources until the
 * admin grants access (`/providers/Microsoft.Ocg/regionAccess`), zones of disks, and disk bytes
 * landing in the storage location of their zone (a configured directory for one of them).
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ClientSecretCredential } from "@azure/identity";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { DiskService } from "../../src/disks/disk-service.js";
import { RegionCatalog } from "../../src/domain/regions.js";
import { createVhdFooter, MIB } from "../../src/formats/vhd.js";
import { hashSecret } from "../../src/identity/secrets.js";
import { openStore } from "../../src/store/open-store.js";
import { call, startTestServer, tempDir, type TestServer } from "../helpers/server.js";

const RG = "regions-rg";
const V = "api-version=2026-01-01";
let t: TestServer;
let fastDir: string;
let sub: string;

before(async () => {
  fastDir = join(tempDir("fast"), "eastus-2");
  t = await startTestServer({
    regions: [
      { name: "eastus", zones: ["1", "2", "3"], storage: { 2: fastDir } },
      { name: "westus" },
      { name: "australiacentral", restricted: true },
    ],
  });
  sub = t.credentials.subscriptionId;
  // A resource group may live in a restricted region, as in Azure.
  await t.resources.resourceGroups.createOrUpdate(RG, { location: "australiacentral" });
});
after(() => t?.close());

const access = (region: string, subscription = sub) =>
  `/providers/Microsoft.Ocg/regionAccess/${region}/subscriptions/${subscription}?${V}`;
const galleryPath = (name: string) =>
  `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/${name}?api-version=2025-03-03`;

function refusedLocation(err: any) {
  assert.equal(err.statusCode, 400);
  assert.equal(err.code, "LocationNotAvailableForResourceType");
  assert.match(
    err.message,
    /^The provided location 'australiacentral' is not available for resource type 'Microsoft\.Compute\/(galleries|galleries\/applications|disks)'\. List of available regions for the resource type is 'eastus,westus'\.$/,
  );
  return true;
}

describe("restricted regions", () => {
  test("without access a new resource is refused, naming location, and nothing is left", async () => {
    await assert.rejects(
      t.compute.galleries.beginCreateOrUpdateAndWait(RG, "g1", { location: "australiacentral" }),
      refusedLocation,
    );
    await assert.rejects(t.compute.galleries.get(RG, "g1"), { statusCode: 404 });
    const raw = await call(t, "PUT", galleryPath("g1"), {
      body: { location: "Australia Central" },
    });
    assert.equal(raw.status, 400);
    assert.equal(raw.json.error.target, "location");
    await assert.rejects(
      t.compute.disks.beginCreateOrUpdateAndWait(RG, "d1", {
        location: "australiacentral",
        creationData: { createOption: "Empty" },
        diskSizeGB: 1,
      }),
      refusedLocation,
    );
    await assert.rejects(t.compute.disks.get(RG, "d1"), { statusCode: 404 });
    // Every region is still listed.
    const locations = await call(
      t,
      "GET",
      `/subscriptions/${sub}/locations?api-version=2022-12-01`,
    );
    assert.deepEqual(
      locations.json.value.map((l: any) => l.name),
      ["eastus", "westus", "australiacentral"],
    );
    assert.deepEqual(locations.json.value[0].availabilityZoneMappings, [
      { logicalZone: "1", physicalZone: "eastus-az1" },
      { logicalZone: "2", physicalZone: "eastus-az2" },
      { logicalZone: "3", physicalZone: "eastus-az3" },
    ]);
    assert.equal(locations.json.value[1].availabilityZoneMappings, undefined);
  });

  test("only the admin principal manages access", async () => {
    const store = await openStore(`sqlite:${join(t.dataDir, "metadata.db")}`);
    const clientId = randomUUID();
    const secret = "not-the-admin-secret";
    try {
      await store.identity.insertPrincipal({
        clientId,
        objectId: randomUUID(),
        tenantId: t.credentials.tenantId,
        displayName: "developer",
        secretHash: await hashSecret(secret),
      });
    } finally {
      await store.close();
    }
    const credential = new ClientSecretCredential(t.credentials.tenantId, clientId, secret, {
      authorityHost: t.url,
      disableInstanceDiscovery: true,
    });
    const token = (await credential.getToken("https://management.azure.com/.default")).token;
    for (const [method, path] of [
      ["PUT", access("australiacentral")],
      ["GET", access("australiacentral")],
      ["DELETE", access("australiacentral")],
      ["GET", `/providers/Microsoft.Ocg/regionAccess?${V}`],
    ] as const) {
      const res = await call(t, method, path, { token });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(res.json.error.code, "AuthorizationFailed");
      assert.match(res.json.error.message, new RegExp(`The client '${clientId}'`));
    }
    assert.equal((await call(t, "GET", access("australiacentral"))).status, 404, "nothing granted");
  });

  test("granted: new resources are accepted; revoked: refused again, existing ones stay", async () => {
    const granted = await call(t, "PUT", access("Australia Central", sub.toUpperCase()));
    assert.equal(granted.status, 201);
    assert.deepEqual(granted.json, {
      id: `/providers/Microsoft.Ocg/regionAccess/australiacentral/subscriptions/${sub}`,
      name: sub,
      type: "Microsoft.Ocg/regionAccess/subscriptions",
      properties: {
        region: "australiacentral",
        subscriptionId: sub,
        grantedAt: granted.json.properties.grantedAt,
        grantedBy: t.credentials.clientId,
      },
    });
    assert.equal((await call(t, "PUT", access("australiacentral"))).status, 200, "idempotent");
    assert.equal((await call(t, "GET", access("australiacentral"))).json.name, sub);
    const list = await call(t, "GET", `/providers/Microsoft.Ocg/regionAccess?${V}`);
    assert.deepEqual(
      list.json.value.map((g: any) => g.id),
      [granted.json.id],
    );
    const byRegion = await call(
      t,
      "GET",
      `/providers/Microsoft.Ocg/regionAccess/australiacentral/subscriptions?${V}`,
    );
    assert.equal(byRegion.json.value.length, 1);

    const g = await t.compute.galleries.beginCreateOrUpdateAndWait(RG, "g2", {
      location: "australiacentral",
    });
    assert.equal(g.location, "australiacentral");
    await t.compute.galleryImages.beginCreateOrUpdateAndWait(RG, "g2", "img", {
      location: "australiacentral",
      osType: "Linux",
      osState: "Generalized",
      identifier: { publisher: "p", offer: "o", sku: "s" },
    });
    const disk = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "d2", {
      location: "australiacentral",
      creationData: { createOption: "Empty" },
      diskSizeGB: 1,
    });
    assert.equal(disk.location, "australiacentral");

    assert.equal((await call(t, "DELETE", access("australiacentral"))).status, 200);
    assert.equal((await call(t, "DELETE", access("australiacentral"))).status, 204);
    assert.equal((await call(t, "GET", access("australiacentral"))).status, 404);
    await assert.rejects(
      t.compute.galleries.beginCreateOrUpdateAndWait(RG, "g3", { location: "australiacentral" }),
      refusedLocation,
    );
    await assert.rejects(
      t.compute.galleryApplications.beginCreateOrUpdateAndWait(RG, "g2", "app", {
        location: "australiacentral",
        supportedOSType: "Linux",
      }),
      refusedLocation,
    );
    // What exists stays and can still be updated.
    const updated = await t.compute.galleries.beginCreateOrUpdateAndWait(RG, "g2", {
      location: "australiacentral",
      description: "still here",
    });
    assert.equal(updated.description, "still here");
  });

  test("bad input to the operator API is refused, naming the parameter", async () => {
    const cases: [string, string, number, string, string | undefined][] = [
      ["PUT", access("mars"), 400, "InvalidParameter", "region"],
      ["PUT", access("eastus"), 400, "InvalidParameter", "region"],
      [
        "PUT",
        access("australiacentral", "not-a-guid"),
        400,
        "InvalidSubscriptionId",
        "subscriptionId",
      ],
      [
        "PUT",
        access("australiacentral", randomUUID()),
        404,
        "SubscriptionNotFound",
        "subscriptionId",
      ],
      [
        "GET",
        access("australiacentral").replace(`?${V}`, ""),
        400,
        "MissingApiVersionParameter",
        "api-version",
      ],
    ];
    for (const [method, path, status, code, target] of cases) {
      const res = await call(t, method, path);
      assert.equal(res.status, status, `${method} ${path}`);
      assert.equal(res.json.error.code, code, `${method} ${path}`);
      assert.equal(res.json.error.target, target, `${method} ${path}`);
    }
  });
});

describe("zones of disks", () => {
  const diskPath = (name: string) =>
    `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${name}?api-version=2022-07-02`;
  const empty = (location: string, zones?: string[]) => ({
    location,
    ...(zones ? { zones } : {}),
    properties: { creationData: { createOption: "Empty" }, diskSizeGB: 1 },
  });

  test("a disk shows the zone it was given", async () => {
    const d = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "z2", {
      location: "eastus",
      zones: ["2"],
      creationData: { createOption: "Empty" },
      diskSizeGB: 1,
    });
    assert.deepEqual(d.zones, ["2"]);
    assert.deepEqual((await t.compute.disks.get(RG, "z2")).zones, ["2"]);
    const plain = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "nozone", {
      location: "eastus",
      creationData: { createOption: "Empty" },
      diskSizeGB: 1,
    });
    assert.equal(plain.zones, undefined);
  });

  test("bad zones and unknown regions are refused, naming the property; nothing is left", async () => {
    const cases: [string, unknown, number, string, string, RegExp][] = [
      [
        "bz1",
        empty("eastus", ["4"]),
        400,
        "AvailabilityZoneNotSupported",
        "zones",
        /supported zones for location 'eastus' are '1,2,3'/,
      ],
      [
        "bz2",
        empty("westus", ["1"]),
        400,
        "AvailabilityZoneNotSupported",
        "zones",
        /supported zones for location 'westus' are ''/,
      ],
      [
        "bz3",
        empty("eastus", ["1", "2"]),
        400,
        "ResourceTypeNotSupportMultiZones",
        "zones",
        /does not support multiple availability zones/,
      ],
      [
        "bz4",
        empty("mars", ["1"]),
        400,
        "LocationNotAvailableForResourceType",
        "location",
        /'mars'/,
      ],
      ["z2", empty("eastus", ["3"]), 409, "PropertyChangeNotAllowed", "zones", /'zones'/],
    ];
    for (const [name, body, status, code, target, message] of cases) {
      const res = await call(t, "PUT", diskPath(name), { body });
      assert.equal(res.status, status, name);
      assert.equal(res.json.error.code, code, name);
      assert.equal(res.json.error.target, target, name);
      assert.match(res.json.error.message, message, name);
      if (name !== "z2") assert.equal((await call(t, "GET", diskPath(name))).status, 404);
    }
    assert.deepEqual((await t.compute.disks.get(RG, "z2")).zones, ["2"], "unchanged");
  });

  test("disk bytes go to the storage location of the disk's zone; a copy shares them", async () => {
    const size = 20 * MIB;
    const vhd = Buffer.alloc(size + 512);
    randomBytes(64 * 1024).copy(vhd, 0);
    createVhdFooter(size).copy(vhd, size);
    const upload = async (name: string, location: string, zones?: string[]) => {
      await t.compute.disks.beginCreateOrUpdateAndWait(RG, name, {
        location,
        ...(zones ? { zones } : {}),
        creationData: { createOption: "Upload", uploadSizeBytes: vhd.length },
      });
      const { accessSAS } = await t.compute.disks.beginGrantAccessAndWait(RG, name, {
        access: "Write",
        durationInSeconds: 600,
      });
      const blob = new PageBlobClient(accessSAS!, new AnonymousCredential(), {
        retryOptions: { maxTries: 1 },
      });
      await blob.uploadPages(vhd.subarray(0, 4 * MIB), 0, 4 * MIB);
      await blob.uploadPages(vhd.subarray(size - 4 * MIB + 512), size - 4 * MIB + 512, 4 * MIB);
      await t.compute.disks.beginRevokeAccessAndWait(RG, name);
    };
    const chunks = (dir: string) =>
      existsSync(join(dir, "chunks"))
        ? readdirSync(join(dir, "chunks"), { recursive: true, withFileTypes: true }).filter((e) =>
            e.isFile(),
          ).length
        : 0;

    await upload("up2", "eastus", ["2"]);
    assert.ok(chunks(fastDir) > 0, "zone 2 is the configured directory");
    assert.equal(chunks(join(t.dataDir, "blobs", "eastus-1")), 0);
    await upload("up1", "East US");
    assert.ok(chunks(join(t.dataDir, "blobs", "eastus-1")) > 0, "no zone: the first zone");
    await upload("upw", "westus");
    assert.ok(chunks(join(t.dataDir, "blobs", "westus")) > 0, "a zoneless region: its own");

    await t.compute.snapshots.beginCreateOrUpdateAndWait(RG, "snap2", {
      location: "eastus",
      creationData: {
        createOption: "Copy",
        sourceResourceId: `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/up2`,
      },
    });
    const { accessSAS } = await t.compute.snapshots.beginGrantAccessAndWait(RG, "snap2", {
      access: "Read",
      durationInSeconds: 600,
    });
    const read = await new PageBlobClient(accessSAS!, new AnonymousCredential()).downloadToBuffer();
    assert.ok(read.equals(vhd), "the copy reads the zone-2 chunks back");

    // Garbage collection is per storage location: the copy holds zone 2's chunks.
    await t.compute.disks.beginDeleteAndWait(RG, "up2");
    const store = await openStore(`sqlite:${join(t.dataDir, "metadata.db")}`);
    try {
      const service = new DiskService(store, new RegionCatalog(t.server.config.regions), t.dataDir);
      const kept = await service.collectGarbage("eastus-2", 0);
      assert.equal(kept.deleted, 0);
      assert.ok(kept.referenced > 0);
      await t.compute.snapshots.beginRevokeAccessAndWait(RG, "snap2");
      await t.compute.snapshots.beginDeleteAndWait(RG, "snap2");
      const gone = await service.collectGarbage("eastus-2", 0);
      assert.ok(gone.deleted > 0);
      assert.equal(chunks(fastDir), 0);
      assert.ok(chunks(join(t.dataDir, "blobs", "eastus-1")) > 0, "other locations untouched");
    } finally {
      await store.close();
    }
  });
});
