/**
 * Image versions from a VHD page blob given by URI (+ storageAccountId), read from Azurite started
 * from its npm package: the version replicates, a disk deployed from it downloads the VHD byte for
 * byte; a missing, unreadable or malformed source is refused at the PUT with a 400 naming the
 * property, and leaves no version and no chunk behind.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { MIB } from "../../src/formats/vhd.js";
import { startAzurite, type Azurite } from "../helpers/azurite.js";
import { chunkCount, createDefinition, downloadDisk, makeVhd } from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "uri-rg";
const GALLERY = "g";
const IMAGE = "i";
const HOME = "westus";
const ACCOUNT_ID = (sub: string) =>
  `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Storage/storageAccounts/devstoreaccount1`;

describe("image versions from VHDs in blob storage", () => {
  let t: TestServer;
  let az: Azurite;
  const vhd = makeVhd(24);

  before(async () => {
    [t, az] = await Promise.all([startTestServer(), startAzurite()]);
    const c = az.service.getContainerClient("vhds");
    await c.create();
    const blob = c.getPageBlobClient("os.vhd");
    await blob.create(vhd.length);
    for (let at = 0; at < vhd.length; at += 4 * MIB) {
      const piece = vhd.subarray(at, Math.min(vhd.length, at + 4 * MIB));
      if (piece.some((b) => b !== 0)) await blob.uploadPages(piece, at, piece.length);
    }
    await c.getBlockBlobClient("block.vhd").uploadData(vhd);
    await c.getPageBlobClient("random.bin").create(4 * MIB);
    await c.getPageBlobClient("random.bin").uploadPages(randomBytes(4 * MIB), 0, 4 * MIB);
    await createDefinition(t, RG, GALLERY, IMAGE, HOME);
  });
  after(async () => {
    await t?.close();
    await az?.stop();
  });

  const source = (blob: string) => ({
    uri: az.sasUrl("vhds", blob),
    storageAccountId: ACCOUNT_ID(t.credentials.subscriptionId),
  });

  it("publishes a VHD read through its URI and deploys it byte for byte", async () => {
    const v = await t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(
      RG,
      GALLERY,
      IMAGE,
      "1.0.0",
      {
        location: HOME,
        publishingProfile: { targetRegions: [{ name: HOME }, { name: "eastus" }] },
        storageProfile: { osDiskImage: { source: source("os.vhd") } },
      },
    );
    assert.equal(v.provisioningState, "Succeeded");
    assert.equal(
      v.storageProfile?.osDiskImage?.source?.storageAccountId,
      ACCOUNT_ID(t.credentials.subscriptionId),
    );
    assert.equal(v.storageProfile?.osDiskImage?.sizeInGB, 1);
    for (const location of [HOME, "eastus"]) {
      await t.compute.disks.beginCreateOrUpdateAndWait(RG, `d-${location}`, {
        location,
        creationData: {
          createOption: "FromImage",
          galleryImageReference: { id: v.id! },
        },
      });
      assert.ok((await downloadDisk(t, RG, `d-${location}`)).equals(vhd), location);
    }
  });

  it("refuses a source it cannot use, before recording anything", async () => {
    const before = chunkCount(t.dataDir, HOME);
    const versions = `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/${GALLERY}/images/${IMAGE}/versions`;
    const cases: [object, RegExp][] = [
      [source("missing.vhd"), /is not accessible/],
      [source("block.vhd"), /Invalid blob type/],
      [source("random.bin"), /Only blobs formatted as VHDs can be imported/],
      [
        {
          ...source("os.vhd"),
          uri: az.sasUrl("vhds", "os.vhd", { expiresOn: new Date(Date.now() - 60_000) }),
        },
        /is not accessible/,
      ],
      [
        {
          ...source("os.vhd"),
          storageAccountId: ACCOUNT_ID(t.credentials.subscriptionId).replace(
            "devstoreaccount1",
            "other",
          ),
        },
        /storage account/,
      ],
    ];
    for (const [bad, message] of cases) {
      const res = await call(t, "PUT", `${versions}/2.0.0?api-version=2022-03-03`, {
        body: { location: HOME, properties: { storageProfile: { osDiskImage: { source: bad } } } },
      });
      assert.equal(res.status, 400, JSON.stringify(res.json));
      assert.equal(res.json.error.target, "properties.storageProfile.osDiskImage.source.uri");
      assert.match(res.json.error.message, message);
      assert.doesNotMatch(res.json.error.message, /sig=/, "the SAS is never echoed");
    }
    const list = await call(t, "GET", `${versions}?api-version=2022-03-03`);
    assert.deepEqual(
      list.json.value.map((v: { name: string }) => v.name),
      ["1.0.0"],
    );
    assert.equal(chunkCount(t.dataDir, HOME), before);
  });
});
