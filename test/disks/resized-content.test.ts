/**
 * `resizedContent` on a real chunk store, with chunk sizes that do and do not divide a MiB: the
 * grown content reads as the old disk, zeros, and the new footer, byte for byte.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ChunkStore } from "../../src/blobs/chunk-store.js";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { resizedContent } from "../../src/disks/resized-content.js";
import { createVhdFooter, MIB, VHD_FOOTER_SIZE } from "../../src/formats/vhd.js";
import { bufferRandomAccess } from "../../src/formats/random-access.js";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
function freshStore(chunkSize: number): ChunkStore {
  const dir = mkdtempSync(join(process.env.OCG_TEST_DATA ?? tmpdir(), "resize-"));
  dirs.push(dir);
  return new ChunkStore(new FsBlobDriver(dir), { chunkSize });
}

/** A fixed VHD of `mib` MiB whose data runs right up to its footer. */
function vhd(mib: number): Buffer {
  const out = Buffer.alloc(mib * MIB + VHD_FOOTER_SIZE);
  randomBytes(70_000).copy(out, 0);
  randomBytes(5_000).copy(out, mib * MIB - 5_000);
  createVhdFooter(mib * MIB).copy(out, mib * MIB);
  return out;
}

describe("resizedContent", () => {
  // 1,048,640 bytes: the new footer straddles two chunks at 4 and at 7 MiB.
  for (const chunkSize of [64 * 1024, 1_000_000, 1_048_640, 3 * MIB]) {
    test(`grows a disk by 1 and by 4 MiB with ${chunkSize}-byte chunks`, async () => {
      const store = freshStore(chunkSize);
      const old = vhd(3);
      const manifest = await store.ingest(bufferRandomAccess(old));
      for (const toMib of [4, 7]) {
        const footer = createVhdFooter(toMib * MIB);
        const grown = await resizedContent(store, manifest, 3 * MIB, toMib * MIB, footer);
        const expected = Buffer.alloc(toMib * MIB + VHD_FOOTER_SIZE);
        old.copy(expected, 0, 0, 3 * MIB);
        footer.copy(expected, toMib * MIB);
        assert.equal(grown.size, expected.length);
        assert.equal(grown.sha256, undefined, "its digest waits until a version needs it");
        assert.ok((await store.read(grown, 0, grown.size)).equals(expected));
        assert.equal((await store.verify(grown)).ok, true);
      }
    });
  }

  test("gives content that has none (an Empty disk) zeros and its footer", async () => {
    const store = freshStore(64 * 1024);
    const footer = createVhdFooter(2 * MIB);
    const made = await resizedContent(store, undefined, 2 * MIB, 2 * MIB, footer);
    assert.deepEqual(
      made.chunks.map(([i]) => i),
      [32],
    );
    const expected = Buffer.alloc(2 * MIB + VHD_FOOTER_SIZE);
    footer.copy(expected, 2 * MIB);
    assert.ok((await store.read(made, 0, made.size)).equals(expected));
  });

  test("refuses to shrink", async () => {
    const store = freshStore(64 * 1024);
    await assert.rejects(
      resizedContent(store, undefined, 2 * MIB, MIB, createVhdFooter(MIB)),
      RangeError,
    );
  });
});
