/**
 * Image versions with the real @azure/arm-compute client: a disk uploaded through its access URL
 * is published as a version replicated to several regions; the operation runs until every replica
 * is complete, `$expand=ReplicationStatus` shows each region, and updates add or remove regions.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { chunkCount, createDefinition, makeVhd, uploadDisk } from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "versions-rg";
const GALLERY = "gallery1";
const IMAGE = "image1";
const HOME = "eastus";

describe("image versions", () => {
  let t: TestServer;
  let diskId: string;
  const vhd = makeVhd(32);
  const versionsPath = () =>
    `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/${GALLERY}/images/${IMAGE}/versions`;

  before(async () => {
    // No grace period: the last test checks garbage collection leaves nothing behind.
    t = await startTestServer({ gcGraceSeconds: 0 });
    await createDefinition(t, RG, GALLERY, IMAGE, HOME);
    diskId = await uploadDisk(t, RG, "src", HOME, vhd);
  });
  after(async () => t?.close());

  it("publishes a disk to three replicas in two regions and reports each region", async () => {
    const version = await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      IMAGE,
      "1.0.0",
      {
        location: HOME,
        publishingProfile: {
          targetRegions: [
            { name: "eastus", regionalReplicaCount: 2 },
            { name: "West US", regionalReplicaCount: 1 },
          ],
        },
        storageProfile: { osDiskImage: { source: { id: diskId } } },
      },
    );
    assert.equal(version.provisioningState, "Succeeded");
    const profile = version.publishingProfile!;
    assert.deepEqual(
      profile.targetRegions!.map((r) => [r.name, r.regionalReplicaCount, r.storageAccountType]),
      [
        ["East US", 2, "Standard_LRS"],
        ["West US", 1, "Standard_LRS"],
      ],
    );
    assert.equal(profile.replicaCount, 1);
    assert.equal(profile.excludeFromLatest, false);
    assert.equal(profile.storageAccountType, "Standard_LRS");
    assert.ok(profile.publishedDate instanceof Date);
    assert.equal(version.safetyProfile?.reportedForPolicyViolation, false);
    assert.equal(version.safetyProfile?.allowDeletionOfReplicatedLocations, false);
    const os = version.storageProfile!.osDiskImage!;
    assert.equal(os.hostCaching, "ReadWrite");
    assert.equal(os.sizeInGB, 1);
    assert.equal(os.source?.id, diskId);

    const expanded = await t.compute.galleryImageVersions.get(RG, GALLERY, IMAGE, "1.0.0", {
      expand: "ReplicationStatus",
    });
    assert.deepEqual(expanded.replicationStatus, {
      aggregatedState: "Completed",
      summary: [
        { region: "East US", state: "Completed", details: "", progress: 100 },
        { region: "West US", state: "Completed", details: "", progress: 100 },
      ],
    });
    // The bytes are in both regions now; the content digest is the SHA-256 of the disk's blob.
    assert.ok(chunkCount(t.dataDir, "westus") > 0);
    const raw = await call(t, "GET", `${versionsPath()}/1.0.0?api-version=2025-03-03`);
    assert.equal(
      raw.json.properties.storageProfile.osDiskImage.contentSha256,
      createHash("sha256").update(vhd).digest("hex"),
    );
    assert.equal(raw.json.properties.provisioningState, "Succeeded");
  });

  it("answers the PUT before replication is done, with an operation to poll", async () => {
    const res = await call(t, "PUT", `${versionsPath()}/1.0.1?api-version=2022-03-03`, {
      body: {
        location: HOME,
        tags: {},
        properties: {
          publishingProfile: { targetRegions: [{ name: "eastus" }, { name: "westeurope" }] },
          storageProfile: { osDiskImage: { source: { id: diskId } } },
        },
      },
    });
    assert.equal(res.status, 201);
    assert.equal(res.json.properties.provisioningState, "Creating");
    assert.ok(res.headers.get("azure-asyncoperation"));
    assert.equal(res.headers.get("location"), null);
    const poll = new URL(String(res.headers.get("azure-asyncoperation")));
    let status = "InProgress";
    for (let i = 0; i < 200 && status === "InProgress"; i++) {
      const op = await call(t, "GET", poll.pathname + poll.search);
      status = op.json.status;
      if (status === "InProgress") await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, "Succeeded");
  });

  it("answers in Azure's shape: regional excludeFromLatest as sent, data disks in Azure's key order", async () => {
    const path = `${versionsPath()}/1.0.2?api-version=2022-03-03`;
    const res = await call(t, "PUT", path, {
      body: {
        location: HOME,
        properties: {
          publishingProfile: {
            targetRegions: [{ name: "eastus", excludeFromLatest: false }, { name: "westus" }],
          },
          storageProfile: {
            osDiskImage: { source: { id: diskId } },
            dataDiskImages: [{ lun: 2, source: { id: diskId } }],
          },
        },
      },
    });
    assert.equal(res.status, 201, res.text);
    const poll = new URL(String(res.headers.get("azure-asyncoperation")));
    for (let i = 0; i < 200; i++) {
      if ((await call(t, "GET", poll.pathname + poll.search)).json.status !== "InProgress") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const shown = (await call(t, "GET", path)).json.properties;
    const [east, west] = shown.publishingProfile.targetRegions;
    assert.equal(east.excludeFromLatest, false, "sent false: echoed");
    assert.ok(!("excludeFromLatest" in west), "not sent: absent");
    // test_gallery_specialized#50: lun, sizeInGB, hostCaching, source.
    assert.deepEqual(
      Object.keys(shown.storageProfile.dataDiskImages[0]).filter((k) => k !== "contentSha256"),
      ["lun", "sizeInGB", "hostCaching", "source"],
    );
    assert.equal(shown.storageProfile.dataDiskImages[0].hostCaching, "ReadOnly");
    assert.equal((await call(t, "DELETE", path)).status, 202);
  });

  it("adds and removes regions later, refusing a removal unless it is allowed", async () => {
    const base = {
      location: HOME,
      storageProfile: {},
    };
    await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, "1.0.0", {
      ...base,
      publishingProfile: {
        targetRegions: [
          { name: "eastus", regionalReplicaCount: 2 },
          { name: "westus" },
          { name: "westeurope", regionalReplicaCount: 2 },
        ],
      },
    });
    let v = await t.compute.galleryImageVersions.get(RG, GALLERY, IMAGE, "1.0.0", {
      expand: "ReplicationStatus",
    });
    assert.equal(v.replicationStatus?.aggregatedState, "Completed");
    assert.deepEqual(
      v.replicationStatus?.summary?.map((s) => s.region),
      ["East US", "West US", "West Europe"],
    );
    assert.ok(chunkCount(t.dataDir, "westeurope-1") > 0);

    await assert.rejects(
      t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, "1.0.0", {
        ...base,
        publishingProfile: { targetRegions: [{ name: "eastus", regionalReplicaCount: 2 }] },
      }),
      (e: any) => {
        assert.equal(e.statusCode, 400);
        assert.match(e.message, /allowDeletionOfReplicatedLocations/);
        return true;
      },
    );
    v = await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      IMAGE,
      "1.0.0",
      {
        ...base,
        publishingProfile: { targetRegions: [{ name: "eastus", regionalReplicaCount: 2 }] },
        safetyProfile: { allowDeletionOfReplicatedLocations: true },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    assert.deepEqual(
      v.publishingProfile?.targetRegions?.map((r) => r.name),
      ["East US"],
    );
  });

  it("keeps a zone-redundant replica in every zone of its region", async () => {
    const v = await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      IMAGE,
      "1.5.0",
      {
        location: HOME,
        publishingProfile: {
          targetRegions: [
            { name: "westeurope", storageAccountType: "Standard_ZRS" },
            { name: HOME },
          ],
        },
        storageProfile: { osDiskImage: { source: { id: diskId } } },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    assert.equal(v.publishingProfile?.targetRegions?.[0]?.storageAccountType, "Standard_ZRS");
    for (const zone of ["westeurope-1", "westeurope-2", "westeurope-3"]) {
      assert.ok(chunkCount(t.dataDir, zone) > 0, zone);
    }
    await t.compute.galleryImageVersions.beginDeleteAndWait(RG, GALLERY, IMAGE, "1.5.0");
  });

  it("publishes a version from another version without copying a chunk", async () => {
    const before = chunkCount(t.dataDir, "eastus-1");
    const v = await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      IMAGE,
      "2.0.0",
      {
        location: HOME,
        storageProfile: {
          source: {
            id: `${versionsPath()}/1.0.0`,
          },
        },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    assert.equal(v.storageProfile?.osDiskImage?.sizeInGB, 1);
    assert.equal(chunkCount(t.dataDir, "eastus-1"), before);
  });

  it("lists versions and deletes one", async () => {
    const names: string[] = [];
    for await (const v of t.compute.galleryImageVersions.listByGalleryImage(RG, GALLERY, IMAGE)) {
      names.push(v.name!);
    }
    assert.deepEqual(names.sort(), ["1.0.0", "1.0.1", "2.0.0"]);
    await t.compute.galleryImageVersions.beginDeleteAndWait(RG, GALLERY, IMAGE, "1.0.1");
    await assert.rejects(
      t.compute.galleryImageVersions.get(RG, GALLERY, IMAGE, "1.0.1"),
      (e: any) => e.statusCode === 404,
    );
  });

  it("refuses bad input with an ARM error naming the property, and creates nothing", async () => {
    const put = (name: string, properties: unknown) =>
      call(t, "PUT", `${versionsPath()}/${name}?api-version=2022-03-03`, {
        body: { location: HOME, properties },
      });
    const source = { osDiskImage: { source: { id: diskId } } };
    // A disk that boots Generation 2 VMs, for a definition of Generation 1 ones.
    const gen2 = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "gen2", {
      location: HOME,
      hyperVGeneration: "V2",
      creationData: { createOption: "Copy", sourceResourceId: diskId },
    });
    const cases: [string, unknown, number, string][] = [
      ["1.0", { storageProfile: source }, 400, "galleryImageVersionName"],
      ["1.0.99999999999", { storageProfile: source }, 400, "galleryImageVersionName"],
      [
        "3.0.0",
        {
          storageProfile: source,
          publishingProfile: { targetRegions: [{ name: "eastus" }, { name: "East US" }] },
        },
        400,
        "properties.publishingProfile.targetRegions[1].name",
      ],
      [
        "3.0.0",
        { storageProfile: source, publishingProfile: { targetRegions: [{ name: "westus" }] } },
        400,
        "properties.publishingProfile.targetRegions",
      ],
      [
        "3.0.0",
        { storageProfile: source, publishingProfile: { targetRegions: [{ name: "mars" }] } },
        400,
        "properties.publishingProfile.targetRegions[0].name",
      ],
      [
        "3.0.0",
        { storageProfile: source, publishingProfile: { replicaCount: 51 } },
        400,
        "properties.publishingProfile.replicaCount",
      ],
      ["3.0.0", { storageProfile: {} }, 400, "properties.storageProfile"],
      [
        "3.0.0",
        {
          storageProfile: source,
          publishingProfile: {
            targetExtendedLocations: [
              { name: "westus", extendedLocation: { name: "losangeles", type: "EdgeZone" } },
            ],
          },
        },
        400,
        "properties.publishingProfile.targetExtendedLocations",
      ],
      [
        "3.0.0",
        {
          storageProfile: source,
          publishingProfile: {
            targetRegions: [
              { name: "eastus" },
              { name: "westus", storageAccountType: "Standard_ZRS" },
            ],
          },
        },
        400,
        "properties.publishingProfile.targetRegions[1].storageAccountType",
      ],
      [
        "3.0.0",
        {
          storageProfile: source,
          publishingProfile: { targetRegions: [{ name: "eastus" }, { name: "australiacentral" }] },
        },
        400,
        "properties.publishingProfile.targetRegions[1].name",
      ],
      [
        "3.0.0",
        {
          storageProfile: {
            source: { id: diskId.replace(/\/disks\/[^/]+$/, "/images/managedImage1") },
          },
        },
        400,
        "properties.storageProfile.source.id",
      ],
      [
        "3.0.0",
        { storageProfile: { osDiskImage: { source: { id: `${diskId}-missing` } } } },
        404,
        "properties.storageProfile.osDiskImage.source.id",
      ],
      [
        "3.0.0",
        {
          storageProfile: {
            ...source,
            dataDiskImages: [
              { lun: 1, source: { id: diskId } },
              { lun: 1, source: { id: diskId } },
            ],
          },
        },
        400,
        "properties.storageProfile.dataDiskImages[1].lun",
      ],
      [
        "3.0.0",
        { storageProfile: { osDiskImage: { source: { id: gen2.id } } } },
        409,
        "properties.storageProfile.osDiskImage.source.id",
      ],
    ];
    for (const [name, properties, status, target] of cases) {
      const res = await put(name, properties);
      assert.equal(
        res.status,
        status,
        `${name} ${JSON.stringify(properties)}: ${JSON.stringify(res.json)}`,
      );
      assert.equal(res.json.error.target, target, JSON.stringify(res.json));
    }
    const mismatch = await put("3.0.0", {
      storageProfile: { osDiskImage: { source: { id: gen2.id } } },
    });
    assert.equal(mismatch.json.error.code, "Conflict");
    assert.match(mismatch.json.error.message, /Hypervisor generation \['V2'\].*\['V1'\]/);
    await t.compute.disks.beginDeleteAndWait(RG, "gen2");
    const list = await call(t, "GET", `${versionsPath()}?api-version=2022-03-03`);
    assert.deepEqual(list.json.value.map((v: { name: string }) => v.name).sort(), [
      "1.0.0",
      "2.0.0",
    ]);
  });

  it("gives every chunk back once versions and their source are deleted", async () => {
    for await (const v of t.compute.galleryImageVersions.listByGalleryImage(RG, GALLERY, IMAGE)) {
      await t.compute.galleryImageVersions.beginDeleteAndWait(RG, GALLERY, IMAGE, v.name!);
    }
    await t.compute.disks.beginDeleteAndWait(RG, "src");
    await t.server.collectGarbage();
    for (const location of [
      "eastus-1",
      "eastus-2",
      "eastus-3",
      "westus",
      "westeurope-1",
      "westeurope-2",
      "westeurope-3",
    ]) {
      assert.equal(chunkCount(t.dataDir, location), 0, location);
    }
  });
});
