/**
 * Deploying disks from image versions with the real clients: by version id or by definition id
 * (latest in the disk's region), copy-on-write (no chunk copied), downloaded byte for byte from
 * every region, reads spread over the region's replicas, and refused where no replica is complete.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  chunkCount,
  createDefinition,
  downloadDisk,
  makeVhd,
  uploadDisk,
} from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "deploy-rg";
const GALLERY = "g1";
const IMAGE = "linux";
const HOME = "eastus";

describe("deploying disks from image versions", () => {
  let t: TestServer;
  const v1 = makeVhd(24);
  const v2 = makeVhd(24);
  let definitionId: string;
  const versionId = (name: string) => `${definitionId}/versions/${name}`;

  const publish = (name: string, diskId: string, regions: object[], extra: object = {}) =>
    t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, name, {
      location: HOME,
      publishingProfile: { targetRegions: regions as never, ...extra },
      storageProfile: { osDiskImage: { source: { id: diskId } } },
    });

  const fromImage = (name: string, location: string, id: string, extra: object = {}) =>
    t.compute.disks.beginCreateOrUpdateAndWait(RG, name, {
      location,
      ...extra,
      creationData: { createOption: "FromImage", galleryImageReference: { id } },
    });

  /** A refused creation left no disk behind. */
  const assertNotCreated = async (name: string) => {
    const res = await call(
      t,
      "GET",
      `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${name}?api-version=2022-07-02`,
    );
    assert.equal(res.status, 404, "nothing was created");
  };

  before(async () => {
    t = await startTestServer();
    const def = await createDefinition(t, RG, GALLERY, IMAGE, HOME);
    definitionId = def.id!;
    const d1 = await uploadDisk(t, RG, "src1", HOME, v1);
    const d2 = await uploadDisk(t, RG, "src2", HOME, v2);
    await publish("1.0.0", d1, [
      { name: "eastus", regionalReplicaCount: 2 },
      { name: "westus", regionalReplicaCount: 2 },
    ]);
    // 2.0.0 is newer but only in eastus; 3.0.0 is newest but excluded from latest.
    await publish("2.0.0", d2, [{ name: "eastus" }]);
    await publish("3.0.0", d2, [{ name: "eastus" }, { name: "westus" }], {
      excludeFromLatest: true,
    });
  });
  after(async () => t?.close());

  it("creates a disk from a version in each region, byte for byte, without copying chunks", async () => {
    const chunksBefore = chunkCount(t.dataDir, "westus");
    for (const location of ["eastus", "westus"]) {
      const disk = await fromImage(`from-v1-${location}`, location, versionId("1.0.0"));
      assert.equal(disk.provisioningState, "Succeeded");
      assert.equal(disk.diskState, "Unattached");
      assert.equal(disk.osType, "Linux");
      assert.equal(disk.hyperVGeneration, "V1");
      assert.equal(disk.diskSizeBytes, v1.length - 512);
      assert.equal(disk.creationData?.createOption, "FromImage");
      assert.equal(disk.creationData?.galleryImageReference?.id, versionId("1.0.0"));
      assert.ok((await downloadDisk(t, RG, `from-v1-${location}`)).equals(v1));
    }
    assert.equal(chunkCount(t.dataDir, "westus"), chunksBefore);
  });

  it("resolves a definition to the latest version deployable in the disk's region", async () => {
    // eastus: 3.0.0 is excluded, so 2.0.0; westus: 2.0.0 is not there, so 1.0.0.
    await fromImage("latest-east", "eastus", definitionId);
    await fromImage("latest-west", "westus", definitionId);
    assert.ok((await downloadDisk(t, RG, "latest-east")).equals(v2));
    assert.ok((await downloadDisk(t, RG, "latest-west")).equals(v1));
  });

  it("refuses a region where the version has no complete replica", async () => {
    await assert.rejects(fromImage("nowhere", "westeurope", versionId("1.0.0")), (e: any) => {
      assert.equal(e.statusCode, 404);
      assert.equal(e.code, "GalleryImageNotFound");
      assert.match(e.message, /not available in westeurope region/);
      return true;
    });
    await assert.rejects(fromImage("nowhere", "westeurope", definitionId), (e: any) => {
      assert.equal(e.code, "GalleryImageNotFound");
      return true;
    });
    await assertNotCreated("nowhere");
  });

  it("takes the image's exact size when asked for its size in GiB (larger: resize.test.ts)", async () => {
    const same = await fromImage("same-size", HOME, versionId("1.0.0"), { diskSizeGB: 1 });
    assert.equal(same.diskSizeGB, 1);
    assert.equal(same.diskSizeBytes, v1.length - 512);
  });

  it("gives the disk its image's Hyper-V generation, and refuses another", async () => {
    const generation = (name: string, hyperVGeneration?: "V1" | "V2") =>
      fromImage(name, HOME, versionId("1.0.0"), { hyperVGeneration });
    assert.equal((await generation("gen-default")).hyperVGeneration, "V1");
    assert.equal((await generation("gen-same", "V1")).hyperVGeneration, "V1");
    await assert.rejects(generation("gen-other", "V2"), (e: any) => {
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, "InvalidParameter");
      assert.match(e.message, /Hyper-V generation 'V2'.*generation 'V1'/);
      return true;
    });
    await assertNotCreated("gen-other");
    for (const name of ["gen-default", "gen-same"]) {
      await t.compute.disks.beginDeleteAndWait(RG, name);
    }
  });

  it("spreads reads over the replicas of the region", async () => {
    const disk = "spread";
    await fromImage(disk, "westus", versionId("1.0.0"));
    const stats = () =>
      t.server.replicaLoad
        .snapshot()
        .filter((s) => s.replica.includes("|westus|"))
        .map((s) => s.bytesServed);
    const before = stats();
    for (let i = 0; i < 6; i++) await downloadDisk(t, RG, disk);
    const after = stats();
    const served = after.map((b, i) => b - (before[i] ?? 0));
    assert.equal(served.length, 2, "two replicas in westus");
    assert.ok(Math.min(...served) > 0, `both replicas served reads: ${served.join(", ")}`);
    assert.ok(Math.max(...served) / Math.min(...served) <= 1.5, served.join(", "));
  });

  it("keeps a deployed disk readable after its version is deleted", async () => {
    await fromImage("survivor", "westus", versionId("3.0.0"));
    await t.compute.galleryImageVersions.beginDeleteAndWait(RG, GALLERY, IMAGE, "3.0.0");
    assert.ok((await downloadDisk(t, RG, "survivor")).equals(v2));
  });
});
