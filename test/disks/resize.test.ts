/**
 * Disks larger than their source, and resizes, with the real clients: a FromImage or Copy disk
 * asked for more GiB, and a PATCH of `diskSizeGB`, read as the source's bytes, then zeros, then a
 * footer for the new size — with one chunk written, nothing copied. A version made from such a
 * disk (or from one never written) gets the digest of its whole content while it replicates.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { parseVhdFooter, VHD_FOOTER_SIZE } from "../../src/formats/vhd.js";
import { chunkCount, createDefinition, makeVhd, uploadDisk } from "../helpers/disks.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "resize-rg";
const GALLERY = "g1";
const IMAGE = "linux";
const HOME = "eastus";
const GIB = 1024 * 1024 * 1024;
/** Where the test server keeps eastus disks that name no zone: its first zone. */
const HOME_STORE = "eastus-1";

describe("growing disks", () => {
  let t: TestServer;
  const vhd = makeVhd(24);
  const data = vhd.subarray(0, vhd.length - VHD_FOOTER_SIZE);
  let sourceId: string;
  let versionId: string;

  /** Reads a disk through a Read grant: its size, page ranges and the bytes of some ranges. */
  async function read(name: string, ranges: [offset: number, length: number][] = []) {
    const access = await t.compute.disks.beginGrantAccessAndWait(RG, name, {
      access: "Read",
      durationInSeconds: 600,
    });
    try {
      const blob = new PageBlobClient(access.accessSAS!, new AnonymousCredential());
      const size = (await blob.getProperties()).contentLength!;
      const pages = (await blob.getPageRanges()).pageRange ?? [];
      const bytes = [];
      for (const [offset, length] of ranges) {
        // (A count of 0 would mean "to the end" to the SDK.)
        const read = length === 0 ? Buffer.alloc(0) : undefined;
        bytes.push(
          read ?? (await blob.downloadToBuffer(offset < 0 ? size + offset : offset, length)),
        );
      }
      // The SDK's `count` is end - start, one less than the length.
      return { size, pages: pages.map((p) => [p.offset, p.offset + (p.count ?? 0)]), bytes };
    } finally {
      await t.compute.disks.beginRevokeAccessAndWait(RG, name);
    }
  }

  /** What a grown disk must read as: `head`, zeros up to `diskBytes`, and a footer for that. */
  async function assertGrown(name: string, head: Buffer, diskBytes: number) {
    const { size, pages, bytes } = await read(name, [
      [0, head.length],
      [head.length, 4096],
      [-VHD_FOOTER_SIZE - 4096, 4096],
      [-VHD_FOOTER_SIZE, VHD_FOOTER_SIZE],
    ]);
    assert.equal(size, diskBytes + VHD_FOOTER_SIZE);
    assert.ok(bytes[0]!.equals(head), "the source's bytes come first");
    assert.ok(bytes[1]!.every((b) => b === 0) && bytes[2]!.every((b) => b === 0), "then zeros");
    const footer = parseVhdFooter(bytes[3]!);
    assert.equal(footer.currentSize, diskBytes);
    assert.equal(footer.diskType, 2, "a fixed VHD");
    const [lastStart, lastEnd] = pages.at(-1)!;
    assert.ok(lastEnd === size - 1 && lastStart! > head.length, "the footer's page range is apart");
    return bytes[3]!;
  }

  /** SHA-256 of `head`, zeros up to `diskBytes`, then `footer`: the content a version must show. */
  function digestOf(head: Buffer, diskBytes: number, footer: Buffer) {
    const hash = createHash("sha256").update(head);
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    for (let left = diskBytes - head.length; left > 0; left -= zeros.length) {
      hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    }
    return hash.update(footer).digest("hex");
  }

  const publish = (name: string, sourceDiskId: string, regions: string[]) =>
    t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, name, {
      location: HOME,
      publishingProfile: { targetRegions: regions.map((r) => ({ name: r })) },
      storageProfile: { osDiskImage: { source: { id: sourceDiskId } } },
    });

  const contentSha256 = async (name: string) => {
    const res = await call(
      t,
      "GET",
      `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/${GALLERY}/images/${IMAGE}/versions/${name}?api-version=2025-03-03`,
    );
    return res.json.properties.storageProfile.osDiskImage.contentSha256 as string | undefined;
  };

  before(async () => {
    t = await startTestServer();
    await createDefinition(t, RG, GALLERY, IMAGE, HOME);
    sourceId = await uploadDisk(t, RG, "source", HOME, vhd);
    versionId = (await publish("1.0.0", sourceId, [HOME, "westus"])).id!;
  });
  after(async () => t?.close());

  it("creates a FromImage disk larger than its image, writing one chunk and copying none", async () => {
    const before = chunkCount(t.dataDir, HOME_STORE);
    const disk = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "from-image-3g", {
      location: HOME,
      diskSizeGB: 3,
      creationData: { createOption: "FromImage", galleryImageReference: { id: versionId } },
    });
    assert.equal(disk.diskSizeGB, 3);
    assert.equal(disk.diskSizeBytes, 3 * GIB);
    assert.equal(chunkCount(t.dataDir, HOME_STORE), before + 1, "only the new footer's chunk");
    await assertGrown("from-image-3g", data, 3 * GIB);
  });

  it("creates a larger Copy, and refuses a smaller or an impossible size", async () => {
    const copy = (name: string, diskSizeGB: number) =>
      t.compute.disks.beginCreateOrUpdateAndWait(RG, name, {
        location: HOME,
        diskSizeGB,
        creationData: { createOption: "Copy", sourceResourceId: sourceId },
      });
    assert.equal((await copy("copy-2g", 2)).diskSizeBytes, 2 * GIB);
    await assertGrown("copy-2g", data, 2 * GIB);
    assert.equal((await copy("copy-same", 1)).diskSizeBytes, data.length, "its source's size");
    await assert.rejects(copy("copy-huge", 40000), (e: any) => {
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /between 1 and 32767 GB/);
      return true;
    });
  });

  it("grows a disk with PATCH, and refuses to shrink it or to resize it while it is read", async () => {
    await t.compute.disks.beginCreateOrUpdateAndWait(RG, "patched", {
      location: HOME,
      creationData: { createOption: "Copy", sourceResourceId: sourceId },
    });
    const grown = await t.compute.disks.beginUpdateAndWait(RG, "patched", { diskSizeGB: 2 });
    assert.equal(grown.diskSizeBytes, 2 * GIB);
    assert.equal(grown.diskIopsReadWrite, 500, "its size tier's performance");
    await assertGrown("patched", data, 2 * GIB);
    // Twice: the second growth starts from the first's content (footer moved again).
    await t.compute.disks.beginUpdateAndWait(RG, "patched", { diskSizeGB: 4 });
    await assertGrown("patched", data, 4 * GIB);

    await assert.rejects(
      t.compute.disks.beginUpdateAndWait(RG, "patched", { diskSizeGB: 3 }),
      (e: any) => {
        assert.equal(e.statusCode, 400);
        assert.match(e.message, /can only be increased/);
        return true;
      },
    );
    await t.compute.disks.beginGrantAccessAndWait(RG, "patched", {
      access: "Read",
      durationInSeconds: 600,
    });
    await assert.rejects(
      t.compute.disks.beginUpdateAndWait(RG, "patched", { diskSizeGB: 8 }),
      (e: any) => {
        assert.equal(e.statusCode, 409);
        assert.equal(e.code, "OperationNotAllowed");
        assert.match(e.message, /ActiveSAS.*endGetAccess/);
        return true;
      },
    );
    await t.compute.disks.beginRevokeAccessAndWait(RG, "patched");
    const after = await t.compute.disks.get(RG, "patched");
    assert.equal(after.diskSizeGB, 4, "the refused resize changed nothing");
  });

  it("resizes a FromImage disk, which then reads its own grown content", async () => {
    await t.compute.disks.beginCreateOrUpdateAndWait(RG, "from-image-patched", {
      location: HOME,
      creationData: { createOption: "FromImage", galleryImageReference: { id: versionId } },
    });
    await t.compute.disks.beginUpdateAndWait(RG, "from-image-patched", { diskSizeGB: 2 });
    await assertGrown("from-image-patched", data, 2 * GIB);
  });

  it("publishes a grown disk with the digest of its whole content, in every region", async () => {
    await t.compute.disks.beginCreateOrUpdateAndWait(RG, "to-publish", {
      location: HOME,
      diskSizeGB: 2,
      creationData: { createOption: "Copy", sourceResourceId: sourceId },
    });
    const footer = await assertGrown("to-publish", data, 2 * GIB);
    const version = await publish("2.0.0", `${sourceId.replace(/source$/, "to-publish")}`, [
      HOME,
      "westus",
    ]);
    assert.equal(version.provisioningState, "Succeeded");
    assert.equal(await contentSha256("2.0.0"), digestOf(data, 2 * GIB, footer));
    assert.equal(version.storageProfile?.osDiskImage?.sizeInGB, 2);
    // A snapshot of the same disk holds the same manifest, which learned its digest: a version
    // of it shows the same one.
    const snapshot = await t.compute.snapshots.beginCreateOrUpdateAndWait(RG, "to-publish-snap", {
      location: HOME,
      creationData: {
        createOption: "Copy",
        sourceResourceId: sourceId.replace(/source$/, "to-publish"),
      },
    });
    await publish("2.0.1", snapshot.id!, [HOME]);
    assert.equal(await contentSha256("2.0.1"), await contentSha256("2.0.0"));
    // Deployed in the other region, it reads the same.
    await t.compute.disks.beginCreateOrUpdateAndWait(RG, "from-grown-westus", {
      location: "westus",
      creationData: {
        createOption: "FromImage",
        galleryImageReference: { id: version.id! },
      },
    });
    await assertGrown("from-grown-westus", data, 2 * GIB);
  });

  it("publishes an Empty disk as zeros and its footer", async () => {
    const empty = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "blank", {
      location: HOME,
      diskSizeGB: 1,
      creationData: { createOption: "Empty" },
    });
    const { bytes } = await read("blank", [[-VHD_FOOTER_SIZE, VHD_FOOTER_SIZE]]);
    const version = await publish("3.0.0", empty.id!, [HOME]);
    assert.equal(version.provisioningState, "Succeeded");
    assert.equal(await contentSha256("3.0.0"), digestOf(Buffer.alloc(0), GIB, bytes[0]!));
    // The disk itself reads as before.
    await assertGrown("blank", Buffer.alloc(0), GIB);
  });

  it("refuses to publish a disk still waiting for its upload", async () => {
    const waiting = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "waiting", {
      location: HOME,
      creationData: { createOption: "Upload", uploadSizeBytes: vhd.length },
    });
    await assert.rejects(publish("4.0.0", waiting.id!, [HOME]), (e: any) => {
      assert.equal(e.statusCode, 409);
      assert.match(e.message, /holds no content yet/);
      return true;
    });
  });
});
