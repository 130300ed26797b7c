/**
 * Disks end to end with the real clients: @azure/arm-compute creates an Upload disk and grants
 * access, @azure/storage-blob's PageBlobClient uploads a fixed VHD through the access URL, the
 * revoke seals it into chunks, and a Read grant downloads it back byte for byte.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { DiskService } from "../../src/disks/disk-service.js";
import { RegionCatalog } from "../../src/domain/regions.js";
import { createVhdFooter, MIB } from "../../src/formats/vhd.js";
import { openStore } from "../../src/store/open-store.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

const RG = "disks-rg";
const LOCATION = "eastus";
/** Where disks in LOCATION keep their chunks by default: its first zone's storage location. */
const STORAGE = "eastus-1";
/** A page-blob client on an access URL, failing at once (no retries). */
const pageBlob = (url: string) =>
  new PageBlobClient(url, new AnonymousCredential(), { retryOptions: { maxTries: 1 } });

/** A fixed VHD of `mib` MiB, mostly zeros with a few random regions. */
function makeVhd(mib: number): Buffer {
  const size = mib * MIB;
  const buf = Buffer.alloc(size + 512);
  for (const [at, n] of [
    [0, 64 * 1024],
    [5 * MIB + 4096, 3 * MIB],
    [size - 8192, 8192],
  ] as const) {
    randomBytes(n).copy(buf, at);
  }
  createVhdFooter(size).copy(buf, size);
  return buf;
}

async function uploadAll(client: PageBlobClient, data: Buffer) {
  const step = 4 * MIB;
  for (let at = 0; at < data.length; at += step) {
    const n = Math.min(step, data.length - at);
    const piece = data.subarray(at, at + n);
    if (piece.every((b) => b === 0)) continue;
    await client.uploadPages(piece, at, n);
  }
}

function chunkFiles(dataDir: string): string[] {
  const root = join(dataDir, "blobs", STORAGE, "chunks");
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

describe("disks: upload, seal, download", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
    await t.resources.resourceGroups.createOrUpdate(RG, { location: LOCATION });
  });
  after(async () => t?.close());

  const createUploadDisk = (name: string, uploadSizeBytes: number) =>
    t.compute.disks.beginCreateOrUpdateAndWait(RG, name, {
      location: LOCATION,
      creationData: { createOption: "Upload", uploadSizeBytes },
    } as never);

  const grant = async (name: string, access: "Read" | "Write", durationInSeconds = 3600) => {
    const r = await t.compute.disks.beginGrantAccessAndWait(RG, name, {
      access,
      durationInSeconds,
    });
    assert.ok(r.accessSAS, "accessSAS");
    return r.accessSAS!;
  };

  it("round trips a fixed VHD through Upload → seal → Read with the real clients", async () => {
    const vhd = makeVhd(64);
    const disk = await createUploadDisk("d1", vhd.length);
    assert.equal(disk.diskState, "ReadyToUpload");
    assert.equal(disk.diskSizeBytes, 64 * MIB);
    assert.equal(disk.provisioningState, "Succeeded");
    assert.equal(disk.encryption?.type, "EncryptionAtRestWithPlatformKey");

    const writeUrl = await grant("d1", "Write");
    assert.match(writeUrl, /^https:\/\/[^/]+\/md-[0-9a-f]+\/[0-9a-f]+\/abcd\?/);
    assert.equal((await t.compute.disks.get(RG, "d1")).diskState, "ActiveUpload");

    const writer = pageBlob(writeUrl);
    await uploadAll(writer, vhd);
    const ranges = await writer.getPageRanges(0, vhd.length);
    // Whole 4 MiB pieces were written: pieces 0-2 merge into one range, the last one (with the
    // footer) is another. (The SDK reports `count` as end - start, one less than the length.)
    assert.deepEqual(
      ranges.pageRange?.map((r) => [r.offset, r.offset + (r.count ?? 0)]),
      [
        [0, 12 * MIB - 1],
        [60 * MIB, 64 * MIB + 511],
      ],
    );
    assert.equal(chunkFiles(t.dataDir).length, 0, "nothing in the chunk store before sealing");

    await t.compute.disks.beginRevokeAccessAndWait(RG, "d1");
    assert.equal((await t.compute.disks.get(RG, "d1")).diskState, "Unattached");
    assert.ok(chunkFiles(t.dataDir).length > 0);

    // The Write URL is dead now.
    await assert.rejects(writer.uploadPages(Buffer.alloc(512, 1), 0, 512), (e: any) => {
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, "AuthenticationFailed");
      return true;
    });

    const readUrl = await grant("d1", "Read");
    assert.equal((await t.compute.disks.get(RG, "d1")).diskState, "ActiveSAS");
    const reader = pageBlob(readUrl);
    const props = await reader.getProperties();
    assert.equal(props.contentLength, vhd.length);
    assert.equal(props.blobType, "PageBlob");
    assert.ok(props.etag);
    const whole = await reader.downloadToBuffer();
    assert.ok(whole.equals(vhd), "whole download is byte-identical");
    const part = await reader.download(5 * MIB, 2 * MIB);
    assert.equal(part.contentLength, 2 * MIB);
    assert.match(part.contentRange ?? "", /^bytes 5242880-7340031\/67109376$/);
    const partBytes = Buffer.concat(await collect(part.readableStreamBody!));
    assert.ok(partBytes.equals(vhd.subarray(5 * MIB, 7 * MIB)));
    const sealedRanges = await reader.getPageRanges();
    assert.ok((sealedRanges.pageRange ?? []).length >= 1);
    // A read grant cannot write.
    await assert.rejects(
      reader.uploadPages(Buffer.alloc(512, 1), 0, 512),
      (e: any) => e.statusCode === 403,
    );

    await t.compute.disks.beginRevokeAccessAndWait(RG, "d1");
    assert.equal((await t.compute.disks.get(RG, "d1")).diskState, "Unattached");
    await assert.rejects(reader.getProperties(), (e: any) => e.statusCode === 403);

    // Copy (disk) and snapshot share the manifest: no chunk is copied.
    const before = chunkFiles(t.dataDir).length;
    const copy = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "d1-copy", {
      location: LOCATION,
      creationData: { createOption: "Copy", sourceResourceId: disk.id },
    } as never);
    assert.equal(copy.diskState, "Unattached");
    assert.equal(copy.diskSizeBytes, 64 * MIB);
    const snap = await t.compute.snapshots.beginCreateOrUpdateAndWait(RG, "s1", {
      location: LOCATION,
      creationData: { createOption: "Copy", sourceResourceId: disk.id },
    } as never);
    assert.equal(snap.creationData?.sourceUniqueId, disk.uniqueId);
    assert.equal(chunkFiles(t.dataDir).length, before);
    const snapUrl = (
      await t.compute.snapshots.beginGrantAccessAndWait(RG, "s1", {
        access: "Read",
        durationInSeconds: 600,
      })
    ).accessSAS!;
    assert.ok((await pageBlob(snapUrl).downloadToBuffer()).equals(vhd));
    await t.compute.snapshots.beginRevokeAccessAndWait(RG, "s1");

    // Deleting the original leaves the copies readable.
    await t.compute.disks.beginDeleteAndWait(RG, "d1");
    const copyUrl = await grant("d1-copy", "Read");
    assert.ok((await pageBlob(copyUrl).downloadToBuffer()).equals(vhd));
    await t.compute.disks.beginRevokeAccessAndWait(RG, "d1-copy");
  });

  it("answers a PUT that creates a disk or snapshot with 202 and a DiskOperations poll (az refuses 201)", async () => {
    const base = `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute`;
    const body = {
      location: LOCATION,
      properties: { creationData: { createOption: "Empty" }, diskSizeGB: 1 },
    };
    const disk = await call(t, "PUT", `${base}/disks/status-202?api-version=2022-07-02`, { body });
    assert.equal(disk.status, 202);
    assert.match(String(disk.headers.get("azure-asyncoperation")), /\/DiskOperations\//);
    const again = await call(t, "PUT", `${base}/disks/status-202?api-version=2022-07-02`, { body });
    assert.equal(again.status, 200);
    const copy = {
      location: LOCATION,
      properties: { creationData: { createOption: "Copy", sourceResourceId: disk.json.id } },
    };
    const snap = await call(t, "PUT", `${base}/snapshots/status-202?api-version=2022-03-02`, {
      body: copy,
    });
    assert.equal(snap.status, 202, snap.text);
  });

  it("serves an Empty disk as zeros and a footer", async () => {
    const d = await t.compute.disks.beginCreateOrUpdateAndWait(RG, "empty1", {
      location: LOCATION,
      creationData: { createOption: "Empty" },
      diskSizeGB: 1,
    } as never);
    assert.equal(d.diskState, "Unattached");
    assert.equal(d.diskSizeBytes, 1024 * MIB);
    const url = await grant("empty1", "Read");
    const reader = pageBlob(url);
    const tail = await reader.download(1024 * MIB - 512, 1024);
    const bytes = Buffer.concat(await collect(tail.readableStreamBody!));
    assert.ok(bytes.subarray(0, 512).every((b) => b === 0));
    assert.equal(bytes.toString("latin1", 512, 520), "conectix");
    await t.compute.disks.beginRevokeAccessAndWait(RG, "empty1");
  });

  describe("bad input", () => {
    it("refuses bad upload sizes with Azure's message", async () => {
      await assert.rejects(createUploadDisk("bad-size", 20 * MIB + 1000), (e: any) => {
        assert.equal(e.statusCode, 400);
        assert.match(e.message, /must be a multiple of MiB/);
        return true;
      });
      await assert.rejects(
        createUploadDisk("too-small", 10 * MIB + 512),
        (e: any) => e.statusCode === 400,
      );
    });

    it("refuses misaligned, out-of-range and mismatched pages, tampered and expired SAS", async () => {
      await createUploadDisk("d2", 20 * MIB + 512);
      const url = await grant("d2", "Write");
      const w = pageBlob(url);
      await assert.rejects(w.uploadPages(Buffer.alloc(512, 1), 100, 512), (e: any) => {
        assert.equal(e.statusCode, 416);
        assert.equal(e.code, "InvalidPageRange");
        return true;
      });
      await assert.rejects(w.uploadPages(Buffer.alloc(1024, 1), 20 * MIB, 1024), (e: any) => {
        assert.equal(e.code, "InvalidPageRange");
        return true;
      });
      // Body length ≠ range: raw request.
      const bad = await fetch(`${url}&comp=page`, {
        method: "PUT",
        headers: {
          "x-ms-range": "bytes=0-1023",
          "x-ms-page-write": "update",
          "x-ms-version": "2026-10-06",
        },
        body: Buffer.alloc(512, 1),
      });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /<Code>InvalidHeaderValue<\/Code>/);
      assert.ok(bad.headers.get("x-ms-request-id"));
      assert.equal(bad.headers.get("x-ms-version"), "2026-10-06");

      const tampered = url.replace(/sp=rw/, "sp=r");
      await assert.rejects(pageBlob(tampered).getProperties(), (e: any) => e.statusCode === 403);
      const sig = new URL(url);
      sig.searchParams.set("sig", "A" + sig.searchParams.get("sig")!.slice(1));
      const forged = await fetch(sig, { method: "GET" });
      assert.equal(forged.status, 403);
      assert.match(await forged.text(), /<Code>AuthenticationFailed<\/Code>/);
      const later = new URL(url);
      later.searchParams.set("se", "2099-01-01T00:00:00Z");
      assert.equal((await fetch(later)).status, 403);

      await t.compute.disks.beginRevokeAccessAndWait(RG, "d2").catch(() => {});
      const shortUrl = await grant("d2", "Write", 1);
      await new Promise((r) => setTimeout(r, 1100));
      await assert.rejects(
        pageBlob(shortUrl).uploadPages(Buffer.alloc(512, 1), 0, 512),
        (e: any) => {
          assert.equal(e.statusCode, 403);
          assert.equal(e.code, "AuthenticationFailed");
          return true;
        },
      );
    });

    for (const [name, mutate] of [
      ["not a VHD", (b: Buffer) => b.fill(7, b.length - 512)],
      [
        "bad checksum",
        (b: Buffer) => void (b[b.length - 512 + 70] = (b[b.length - 512 + 70]! + 1) & 0xff),
      ],
      [
        "truncated (footer misplaced)",
        (b: Buffer) => {
          const footer = Buffer.from(b.subarray(b.length - 512));
          b.fill(0, b.length - 512);
          footer.copy(b, b.length - 1024);
        },
      ],
    ] as const) {
      it(`refuses to seal an upload that is ${name}; the disk stays ReadyToUpload`, async () => {
        const disk = `bad-${name.split(" ")[0]}-${name.length}`;
        const vhd = makeVhd(20);
        mutate(vhd);
        await createUploadDisk(disk, vhd.length);
        const chunksBefore = chunkFiles(t.dataDir).length;
        const w = pageBlob(await grant(disk, "Write"));
        await uploadAll(w, vhd);
        await assert.rejects(t.compute.disks.beginRevokeAccessAndWait(RG, disk), (e: any) => {
          assert.equal(e.statusCode, 400);
          assert.equal(e.code, "InvalidVhd");
          assert.match(e.message, /is not a supported VHD/);
          return true;
        });
        assert.equal((await t.compute.disks.get(RG, disk)).diskState, "ReadyToUpload");
        assert.equal(chunkFiles(t.dataDir).length, chunksBefore, "no chunk written");
        // The upload can be fixed and sealed.
        const good = makeVhd(20);
        const w2 = pageBlob(await grant(disk, "Write"));
        await w2.uploadPages(good.subarray(good.length - 4096), good.length - 4096, 4096);
        // not necessarily valid content-wise, but a valid footer now: seal succeeds
        await t.compute.disks.beginRevokeAccessAndWait(RG, disk);
        assert.equal((await t.compute.disks.get(RG, disk)).diskState, "Unattached");
      });
    }

    it("refuses a Copy of a source that doesn't exist, and Read on a disk mid-upload", async () => {
      await assert.rejects(
        t.compute.disks.beginCreateOrUpdateAndWait(RG, "nocopy", {
          location: LOCATION,
          creationData: {
            createOption: "Copy",
            sourceResourceId: `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/missing`,
          },
        } as never),
        (e: any) => e.statusCode === 404,
      );
      await createUploadDisk("d3", 20 * MIB + 512);
      await assert.rejects(grant("d3", "Read"), (e: any) => e.statusCode === 409);
    });

    it("garbage collection leaves referenced chunks and removes orphans", async () => {
      const r = await call(
        t,
        "GET",
        `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/disks?api-version=2022-07-02`,
      );
      assert.equal(r.status, 200);
      assert.ok(r.json.value.length >= 3);
      // Drop every holder of the round-trip content; its chunks become garbage.
      await t.compute.disks.beginDeleteAndWait(RG, "d1-copy");
      await t.compute.snapshots.beginDeleteAndWait(RG, "s1");
      const store = await openStore(`sqlite:${join(t.dataDir, "metadata.db")}`);
      try {
        const regions = new RegionCatalog(t.server.config.regions);
        const service = new DiskService(store, regions, t.dataDir);
        const before = chunkFiles(t.dataDir).length;
        const report = await service.collectGarbage(STORAGE, 0);
        assert.ok(report.deleted > 0, "orphaned chunks removed");
        assert.equal(chunkFiles(t.dataDir).length, before - report.deleted);
        assert.ok(report.referenced > 0, "chunks of the sealed bad-* disks kept");
        assert.equal((await service.collectGarbage(STORAGE, 0)).deleted, 0);
      } finally {
        await store.close();
      }
    });
  });
});

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(Buffer.from(c as Buffer));
  return out;
}
