/**
 * ChunkStore and garbage collection over the fs driver, on generated disk-like data: zeros with
 * pseudo-random extents at unaligned offsets, a 0xFF chunk and a repeated chunk, a few MB in all.
 */
import assert from "node:assert/strict";
import { createCipheriv, createHash } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { readFile, rm, truncate, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer as collect } from "node:stream/consumers";
import { after, describe, test } from "node:test";
import {
  ChunkStore,
  type IngestProgress,
  type RandomAccessInto,
} from "../../src/blobs/chunk-store.js";
import {
  ChunkNotFoundError,
  CorruptChunkError,
  type BlobDriver,
  type IoOptions,
} from "../../src/blobs/driver.js";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { collectGarbage } from "../../src/blobs/gc.js";
import {
  chunkLength,
  InvalidManifestError,
  manifestHashes,
  occupiedBytes,
  parseManifest,
  uniqueBytes,
  type Manifest,
} from "../../src/blobs/manifest.js";
import { bufferRandomAccess, ReadRangeError } from "../../src/formats/random-access.js";
import { noOtherFileSystem, shmDir } from "../helpers/file-systems.js";

const CHUNK = 64 * 1024;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
const dataRoot = process.env.OCG_TEST_DATA ?? tmpdir();
function freshDriver(): FsBlobDriver {
  const dir = mkdtempSync(join(dataRoot, "chunks-"));
  dirs.push(dir);
  return new FsBlobDriver(dir);
}

/** An fs driver on another file system (tmpfs) that counts the chunks read from it by `get`. */
class OtherFsDriver extends FsBlobDriver {
  gets = 0;
  constructor() {
    const dir = shmDir("ocg-chunks");
    dirs.push(dir);
    super(dir);
  }
  override get(hash: string, o?: IoOptions) {
    this.gets++;
    return super.get(hash, o);
  }
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed). */
function pseudoRandom(seed: string, length: number): Buffer {
  const key = createHash("sha256").update(seed).digest().subarray(0, 16);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/**
 * A disk-like image of 8 MiB + 12,345 bytes (129 chunks of 64 KiB, the last one short): a boot
 * sector, extents straddling chunk boundaries, a single byte, a 0xFF chunk, a chunk repeated,
 * and data in the short last chunk; everything else zeros.
 */
function v1Image(): Buffer {
  const image = Buffer.alloc(8 * 1024 * 1024 + 12_345);
  const extents: [number, number][] = [
    [0, 3_000],
    [100_000, 300_000],
    [1024 * 1024 + 7, 1],
    [3 * 1024 * 1024 - 100, 640 * 1024],
    [image.length - 5_000, 5_000],
  ];
  for (const [i, [offset, length]] of extents.entries()) {
    pseudoRandom(`v1-${i}`, length).copy(image, offset);
  }
  image.fill(0xff, 60 * CHUNK, 61 * CHUNK);
  image.copy(image, 70 * CHUNK, 48 * CHUNK, 49 * CHUNK);
  return image;
}

/** v1 updated in place: a few small writes and one new extent in what was a hole. */
function v2Image(v1: Buffer): Buffer {
  const image = Buffer.from(v1);
  for (const offset of [150_000, 3 * 1024 * 1024 + 10])
    pseudoRandom(`v2-${offset}`, 100).copy(image, offset);
  pseudoRandom("v2-new", 200_000).copy(image, 6 * 1024 * 1024);
  return image;
}

function nonZeroChunkIndexes(image: Buffer, chunkSize = CHUNK): number[] {
  const out: number[] = [];
  for (let i = 0; i * chunkSize < image.length; i++) {
    if (image.subarray(i * chunkSize, (i + 1) * chunkSize).some((b) => b !== 0)) out.push(i);
  }
  return out;
}

async function* inPieces(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(offset, offset + n);
    offset += n;
  }
}

/** Delegates to a driver, counting calls and the puts in flight at once. */
class SpyDriver implements BlobDriver {
  puts = 0;
  gets = 0;
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    readonly inner: FsBlobDriver,
    private readonly putDelayMs = 0,
  ) {}
  get location() {
    return this.inner.location;
  }
  has(hash: string, o?: IoOptions) {
    return this.inner.has(hash, o);
  }
  touch(hash: string, o?: IoOptions) {
    return this.inner.touch(hash, o);
  }
  async put(hash: string, data: Uint8Array, o?: IoOptions) {
    this.puts++;
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      if (this.putDelayMs) await new Promise((r) => setTimeout(r, this.putDelayMs));
      return await this.inner.put(hash, data, o);
    } finally {
      this.inFlight--;
    }
  }
  get(hash: string, o?: IoOptions) {
    this.gets++;
    return this.inner.get(hash, o);
  }
  delete(hash: string, o?: IoOptions & { ifOlderThan?: Date }) {
    return this.inner.delete(hash, o);
  }
  list(o?: IoOptions) {
    return this.inner.list(o);
  }
  usage(o?: IoOptions) {
    return this.inner.usage(o);
  }
  sync(o?: IoOptions) {
    return this.inner.sync(o);
  }
  removePartial(olderThan: Date, o?: IoOptions) {
    return this.inner.removePartial(olderThan, o);
  }
}

async function flipByte(driver: FsBlobDriver, hash: string, at: number): Promise<void> {
  const path = driver.chunkPath(hash);
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(path, bytes);
}

async function backdateAll(driver: FsBlobDriver, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  for await (const { hash } of driver.list()) await utimes(driver.chunkPath(hash), when, when);
}

const HOUR = 3_600_000;

describe("ChunkStore", () => {
  const v1 = v1Image();
  const v2 = v2Image(v1);

  test("round-trips sparse content; holes are not stored; the digest is the content's", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK });
    const progress: IngestProgress[] = [];
    const m = await store.ingest(bufferRandomAccess(v1), {
      onProgress: (p) => void progress.push(p),
    });

    assert.equal(m.size, v1.length);
    assert.equal(m.chunkSize, CHUNK);
    assert.equal(m.sha256, sha256(v1), "whole-content SHA-256, zeros included");
    assert.deepEqual(
      m.chunks.map(([i]) => i),
      nonZeroChunkIndexes(v1),
    );
    for (const [i, hash] of m.chunks) {
      assert.equal(hash, sha256(v1.subarray(i * CHUNK, i * CHUNK + chunkLength(m, i))));
    }
    assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(m))), m);

    // Only the distinct non-zero chunks are stored: the repeated one once.
    const distinct = manifestHashes(m);
    assert.equal(distinct.size, m.chunks.length - 1);
    assert.deepEqual(await driver.usage(), { bytes: uniqueBytes(m), count: distinct.size });
    assert.equal(occupiedBytes(m), uniqueBytes(m) + CHUNK);
    assert.ok(occupiedBytes(m) < v1.length / 4, "occupied size is far below the provisioned size");

    const last = progress.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.bytesRead, v1.length);
    assert.equal(last.size, v1.length);
    assert.equal(last.chunks, Math.ceil(v1.length / CHUNK));
    assert.equal(last.zero, last.chunks - m.chunks.length);
    assert.equal(last.written, distinct.size);
    assert.equal(last.existed, 1);
    assert.equal(last.writtenBytes, uniqueBytes(m));

    assert.deepEqual(await store.read(m, 0, m.size), v1);
    for (const [offset, length] of [
      [0, 1],
      [CHUNK - 3, 10],
      [99_990, 300_100],
      [5 * CHUNK, 3 * CHUNK],
      [1024 * 1024 + 7, 1],
      [m.size - 6_000, 6_000],
      [m.size, 0],
    ] as const) {
      assert.deepEqual(await store.read(m, offset, length), v1.subarray(offset, offset + length));
    }
    await assert.rejects(store.read(m, m.size - 1, 2), ReadRangeError);
    await assert.rejects(store.read(m, -1, 1), ReadRangeError);

    assert.deepEqual(await collect(store.stream(m)), v1);
    assert.deepEqual(
      await collect(store.stream(m, { start: 99_990, end: 2 * 1024 * 1024 })),
      v1.subarray(99_990, 2 * 1024 * 1024 + 1),
    );
    assert.deepEqual(await collect(store.stream(m, { start: 5, end: 4 })), Buffer.alloc(0));
    assert.throws(() => store.stream(m, { start: 0, end: m.size }), ReadRangeError);

    const ra = store.randomAccess(m);
    assert.equal(ra.size, v1.length);
    assert.deepEqual(await ra.read(300_000, 50_000), v1.subarray(300_000, 350_000));

    const report = await store.verify(m, { content: true });
    assert.deepEqual(report, {
      ok: true,
      chunks: distinct.size,
      bytes: uniqueBytes(m),
      missing: [],
      corrupt: [],
      sha256: sha256(v1),
    });
  });

  test("an async-iterable source of any piece sizes gives the same manifest", async () => {
    const store = new ChunkStore(freshDriver(), { chunkSize: CHUNK });
    const fromRandom = await store.ingest(bufferRandomAccess(v1));
    const fromStream = await store.ingest(inPieces(v1, [1, 65_535, 70_001, 200_000, 4096]));
    assert.deepEqual(fromStream, fromRandom);
    const fromReadable = await store.ingest(Readable.from(inPieces(v1, [CHUNK])));
    assert.deepEqual(fromReadable, fromRandom);
  });

  test("a source that reads into recycled buffers gives the same manifest and bytes", async () => {
    const spy = new SpyDriver(freshDriver(), 3);
    const store = new ChunkStore(spy, { chunkSize: CHUNK, concurrency: 3, readAhead: 2 });
    const plain = bufferRandomAccess(v2);
    let into = 0;
    const source: RandomAccessInto = {
      size: plain.size,
      read: (offset, length, o) => plain.read(offset, length, o),
      async readInto(target, offset) {
        into++;
        target.set(v2.subarray(offset, offset + target.length));
      },
    };
    // Slow puts keep buffers in flight while later chunks are read: a buffer handed back too
    // early would show as a wrong hash or wrong stored bytes.
    const m = await store.ingest(source);
    assert.equal(into, Math.ceil(v2.length / CHUNK));
    assert.deepEqual(m, await new ChunkStore(freshDriver(), { chunkSize: CHUNK }).ingest(plain));
    assert.equal((await store.verify(m, { content: true })).ok, true);
    assert.deepEqual(await store.read(m, 0, m.size), v2);
  });

  test("all-zero content stores nothing and still has the digest of its zeros", async () => {
    const spy = new SpyDriver(freshDriver());
    const store = new ChunkStore(spy, { chunkSize: CHUNK });
    const zeros = Buffer.alloc(20 * CHUNK + 1);
    const m = await store.ingest(bufferRandomAccess(zeros));
    assert.deepEqual(m, {
      size: zeros.length,
      chunkSize: CHUNK,
      sha256: sha256(zeros),
      chunks: [],
    });
    assert.equal(spy.puts, 0);
    assert.deepEqual(await spy.usage(), { bytes: 0, count: 0 });
    assert.deepEqual(await store.read(m, 0, m.size), zeros);
    assert.equal(spy.gets, 0, "holes are synthesized, never read");
    const empty = await store.ingest(bufferRandomAccess(Buffer.alloc(0)));
    assert.deepEqual(empty, {
      size: 0,
      chunkSize: CHUNK,
      sha256: sha256(Buffer.alloc(0)),
      chunks: [],
    });
    assert.deepEqual(await collect(store.stream(empty)), Buffer.alloc(0));
  });

  test("puts run at most `concurrency` at a time", async () => {
    const spy = new SpyDriver(freshDriver(), 5);
    const store = new ChunkStore(spy, { chunkSize: CHUNK, concurrency: 3 });
    await store.ingest(bufferRandomAccess(v1));
    assert.equal(spy.maxInFlight, 3);
  });

  test("a flipped byte in a stored chunk is a CorruptChunkError, never wrong bytes", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK });
    const m = await store.ingest(bufferRandomAccess(v1));
    const [index, hash] = m.chunks.find(([i]) => i === 3)!;
    await flipByte(driver, hash, 1234);

    const isCorrupt = (e: unknown) => {
      assert.ok(e instanceof CorruptChunkError, String(e));
      assert.equal(e.hash, hash);
      assert.equal(e.location, driver.location);
      assert.equal(e.detail.index, index);
      assert.notEqual(e.detail.actual, hash);
      assert.match(e.message, new RegExp(`${hash}.*#${index}.*${driver.location}`));
      return true;
    };
    await assert.rejects(store.read(m, index * CHUNK + 5, 10), isCorrupt);
    await assert.rejects(store.read(m, 0, m.size), isCorrupt);
    // Reads that do not touch the damaged chunk are unaffected.
    assert.deepEqual(await store.read(m, 0, 3 * CHUNK), v1.subarray(0, 3 * CHUNK));

    // A download stops with the error; what it delivered before is a correct prefix.
    const received: Buffer[] = [];
    const stream = store.stream(m);
    await assert.rejects(
      (async () => {
        for await (const piece of stream) received.push(piece as Buffer);
      })(),
      isCorrupt,
    );
    const prefix = Buffer.concat(received);
    assert.ok(prefix.length <= index * CHUNK);
    assert.deepEqual(prefix, v1.subarray(0, prefix.length));

    const report = await store.verify(m);
    assert.equal(report.ok, false);
    assert.deepEqual(report.corrupt, [[index, hash]]);
    assert.deepEqual(report.missing, []);

    // A copy that moves bytes (here: through a driver that can't share files) refuses the chunk
    // rather than spreading it.
    const target = freshDriver();
    await assert.rejects(new ChunkStore(new SpyDriver(target)).copyMissing(m, store), isCorrupt);
    assert.equal(await target.has(hash), false);
    // On one file system the copy is the source's own file (a hard link; no byte is read): it is
    // the same damaged file, and reading it there is the same error, never wrong bytes.
    const linked = new ChunkStore(freshDriver(), { chunkSize: CHUNK });
    await linked.copyMissing(m, store);
    await assert.rejects(linked.read(m, index * CHUNK, 1), (e: unknown) => {
      assert.ok(e instanceof CorruptChunkError);
      assert.equal(e.hash, hash);
      assert.equal(e.location, linked.driver.location);
      return true;
    });

    // A truncated chunk is caught the same way.
    const [, other] = m.chunks.find(([i]) => i === 5)!;
    await truncate(driver.chunkPath(other), 100);
    await assert.rejects(store.read(m, 5 * CHUNK, 1), (e) => {
      assert.ok(e instanceof CorruptChunkError);
      assert.equal(e.detail.length, 100);
      assert.equal(e.detail.expectedLength, CHUNK);
      return true;
    });
  });

  test("a missing chunk is a ChunkNotFoundError; verify lists it", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK });
    const m = await store.ingest(bufferRandomAccess(v1));
    const [index, hash] = m.chunks[2]!;
    await unlink(driver.chunkPath(hash));
    await assert.rejects(store.read(m, index * CHUNK, 1), ChunkNotFoundError);
    const report = await store.verify(m, { content: true });
    assert.equal(report.ok, false);
    assert.deepEqual(report.missing, [[index, hash]]);
    assert.equal(report.sha256, undefined);
  });

  test("contentDigest hashes a manifest without a digest whole; a missing chunk rejects", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK });
    const { sha256: _, ...undigested } = await store.ingest(bufferRandomAccess(v1));
    assert.equal(parseManifest(undigested).sha256, undefined, "a manifest may lack its digest");
    assert.equal(await store.contentDigest(undigested), sha256(v1));
    assert.equal((await store.verify(undigested, { content: true })).ok, true);
    const wrong = { ...undigested, sha256: "0".repeat(64) };
    await assert.rejects(store.contentDigest(wrong), /manifest says 0{64}/);
    await unlink(driver.chunkPath(undigested.chunks[3]![1]));
    await assert.rejects(store.contentDigest(undigested), ChunkNotFoundError);
  });

  test("contentDigest of a vast sparse content stops when aborted, not when the zeros are done", async () => {
    const store = new ChunkStore(freshDriver(), { chunkSize: CHUNK });
    const hash = await store.putChunk(pseudoRandom("lone", CHUNK));
    // 64 GiB, one chunk stored: hashing its zeros takes the worker ~40 s here.
    const vast = { size: 64 * 1024 ** 3, chunkSize: CHUNK, chunks: [[0, hash] as const] };
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(new Error("stop")), 100);
    await assert.rejects(store.contentDigest(vast, { signal: abort.signal }), /stop/);
    assert.ok(Date.now() - started < 10_000, "the abort did not wait for the zeros");
  });

  test("copyMissing copies only the chunks the target lacks, verified", async () => {
    const east = new ChunkStore(new SpyDriver(freshDriver()), { chunkSize: CHUNK });
    const m1 = await east.ingest(bufferRandomAccess(v1));
    const m2 = await east.ingest(bufferRandomAccess(v2));
    const h1 = manifestHashes(m1);
    const h2 = manifestHashes(m2);
    const onlyV2 = [...h2].filter((h) => !h1.has(h));
    assert.ok(onlyV2.length > 0 && onlyV2.length < h2.size / 2, "v2 shares most chunks with v1");

    const westDriver = freshDriver();
    const west = new ChunkStore(westDriver);
    const spy = east.driver as SpyDriver;
    spy.gets = 0;
    assert.deepEqual(await west.copyMissing(m1, east), {
      copied: h1.size,
      skipped: 0,
      bytes: uniqueBytes(m1),
    });
    const bytesOnlyV2 = onlyV2
      .map((h) => m2.chunks.find(([, x]) => x === h)![0])
      .reduce((sum, i) => sum + chunkLength(m2, i), 0);
    const progress: number[] = [];
    assert.deepEqual(
      await west.copyMissing(m2, east, { onProgress: (p) => void progress.push(p.chunks) }),
      { copied: onlyV2.length, skipped: h2.size - onlyV2.length, bytes: bytesOnlyV2 },
    );
    assert.equal(spy.gets, h1.size + onlyV2.length, "only missing chunks are read from the source");
    assert.equal(progress.at(-1), h2.size);
    assert.deepEqual(await west.copyMissing(m2, east), { copied: 0, skipped: h2.size, bytes: 0 });

    const report = await west.verify(m2, { content: true });
    assert.equal(report.ok, true);
    assert.equal(report.sha256, sha256(v2));
    assert.deepEqual(await west.read(m2, 0, m2.size), v2);
    assert.deepEqual(await westDriver.usage(), {
      bytes: uniqueBytes({ ...m1, chunks: [...m1.chunks, ...m2.chunks] }),
      count: new Set([...h1, ...h2]).size,
    });
  });

  test(
    "copyMissing between file systems: the driver copies, and a damaged or missing source chunk is the error a read gives",
    { skip: noOtherFileSystem(dataRoot) },
    async () => {
      const from = new OtherFsDriver();
      const east = new ChunkStore(from, { chunkSize: CHUNK });
      const m = await east.ingest(bufferRandomAccess(v1));
      const hashes = manifestHashes(m);

      const westDriver = freshDriver();
      const west = new ChunkStore(westDriver);
      const progress: number[] = [];
      assert.deepEqual(
        await west.copyMissing(m, east, { onProgress: (p) => void progress.push(p.chunks) }),
        { copied: hashes.size, skipped: 0, bytes: uniqueBytes(m) },
      );
      assert.equal(from.gets, 0, "copied file to file by the driver, not fetched and put");
      assert.equal(progress.at(-1), hashes.size);
      assert.deepEqual(await west.read(m, 0, m.size), v1);
      const [, first] = m.chunks[0]!;
      const [here, there] = [westDriver, from].map((d) => statSync(d.chunkPath(first)));
      assert.notEqual(here!.dev, there!.dev);

      const [damagedIndex, damaged] = m.chunks.find(([i]) => i === 3)!;
      await flipByte(from, damaged, 1234);
      const target = freshDriver();
      await assert.rejects(new ChunkStore(target).copyMissing(m, east), (e: unknown) => {
        assert.ok(e instanceof CorruptChunkError, String(e));
        assert.equal(e.hash, damaged);
        assert.equal(e.location, from.location);
        assert.equal(e.detail.index, damagedIndex);
        return true;
      });
      assert.equal(await target.has(damaged), false, "a damaged chunk is never stored");
      await flipByte(from, damaged, 1234);

      const [, missing] = m.chunks.find(([i]) => i === 5)!;
      await unlink(from.chunkPath(missing));
      await assert.rejects(new ChunkStore(freshDriver()).copyMissing(m, east), (e: unknown) => {
        assert.ok(e instanceof ChunkNotFoundError, String(e));
        assert.equal(e.hash, missing);
        assert.equal(e.location, from.location);
        return true;
      });
    },
  );

  test("cancellation: an abort or a throwing progress callback stops the work cleanly", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK, concurrency: 4 });
    const controller = new AbortController();
    const reason = new Error("cancelled by the job");
    let calls = 0;
    await assert.rejects(
      store.ingest(bufferRandomAccess(v2), {
        signal: controller.signal,
        onProgress: () => {
          if (++calls === 40) controller.abort(reason);
        },
      }),
      (e) => e === reason,
    );
    assert.ok(calls >= 40 && calls < 45, `stopped promptly (${calls} progress calls)`);
    assert.deepEqual(await driver.removePartial(new Date(Date.now() + HOUR)), {
      bytes: 0,
      count: 0,
    });

    const heartbeatLost = new Error("lease lost");
    calls = 0;
    await assert.rejects(
      store.ingest(inPieces(v2, [10_000]), {
        onProgress: async () => {
          if (++calls === 7) throw heartbeatLost;
        },
      }),
      (e) => e === heartbeatLost,
    );
    assert.equal(calls, 7);

    const spy = new SpyDriver(freshDriver());
    await assert.rejects(
      new ChunkStore(spy).ingest(bufferRandomAccess(v1), { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.equal(spy.puts, 0);

    const m = await store.ingest(bufferRandomAccess(v1));
    await assert.rejects(
      store.read(m, 0, m.size, { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    await assert.rejects(collect(store.stream(m, { signal: AbortSignal.abort(reason) })));
    await assert.rejects(
      new ChunkStore(freshDriver()).copyMissing(m, store, { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
  });

  test("a failing put fails the ingest after the other puts have settled", async () => {
    const inner = freshDriver();
    const failure = new Error("disk full");
    let n = 0;
    const failing = new (class extends SpyDriver {
      override async put(hash: string, data: Uint8Array, o?: IoOptions) {
        if (++n === 5) throw failure;
        return super.put(hash, data, o);
      }
    })(inner, 2);
    await assert.rejects(
      new ChunkStore(failing, { chunkSize: CHUNK }).ingest(bufferRandomAccess(v1)),
      (e) => e === failure,
    );
    assert.equal(failing.inFlight, 0, "nothing left running");
  });

  test("parseManifest rejects what is not a manifest", () => {
    const good = {
      size: 10,
      chunkSize: 4,
      sha256: "a".repeat(64),
      chunks: [
        [0, "b".repeat(64)],
        [2, "c".repeat(64)],
      ],
    };
    assert.deepEqual(parseManifest(good), good);
    for (const [bad, path] of [
      [null, "$"],
      [{ ...good, size: -1 }, "size"],
      [{ ...good, chunkSize: 0 }, "chunkSize"],
      [{ ...good, sha256: "xyz" }, "sha256"],
      [{ ...good, chunks: {} }, "chunks"],
      [
        {
          ...good,
          chunks: [
            [2, "b".repeat(64)],
            [0, "c".repeat(64)],
          ],
        },
        "chunks[1]",
      ],
      [{ ...good, chunks: [[3, "b".repeat(64)]] }, "chunks[0]"],
      [{ ...good, chunks: [[0, "B".repeat(64)]] }, "chunks[0]"],
    ] as const) {
      assert.throws(
        () => parseManifest(bad),
        (e) => e instanceof InvalidManifestError && e.path === path,
      );
    }
  });
});

describe("collectGarbage", () => {
  const v1 = v1Image();
  const v2 = v2Image(v1);

  async function twoVersions() {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK });
    const m1 = await store.ingest(bufferRandomAccess(v1));
    const m2 = await store.ingest(bufferRandomAccess(v2));
    return { driver, store, m1, m2 };
  }

  test("removes old unreferenced chunks, keeps referenced and young ones", async () => {
    const { driver, store, m1, m2 } = await twoVersions();
    await backdateAll(driver, 2 * HOUR);
    // v1 was deleted (only v2 is referenced); one chunk of an ingest in progress is fresh.
    const young = pseudoRandom("in-progress", 1000);
    await driver.put(sha256(young), young);
    const referenced = manifestHashes(m2);
    const garbage = [...manifestHashes(m1)].filter((h) => !referenced.has(h));
    const garbageBytes = garbage
      .map((h) => m1.chunks.find(([, x]) => x === h)![0])
      .reduce((sum, i) => sum + chunkLength(m1, i), 0);
    const before = await driver.usage();

    const report = await collectGarbage(driver, { references: async () => referenced });
    assert.equal(report.scanned, before.count);
    assert.equal(report.scannedBytes, before.bytes);
    assert.equal(report.young, 1);
    assert.equal(report.referenced, referenced.size);
    assert.equal(report.deleted, garbage.length);
    assert.equal(report.deletedBytes, garbageBytes);
    assert.equal(report.spared, 0);
    assert.equal(await driver.has(sha256(young)), true);
    for (const h of garbage) assert.equal(await driver.has(h), false);
    assert.equal((await store.verify(m2, { content: true })).ok, true);

    // A second run, asking per chunk, finds nothing more to do.
    const again = await collectGarbage(driver, {
      isReferenced: async (h) => referenced.has(h),
    });
    assert.equal(again.deleted, 0);
    assert.equal(again.referenced, referenced.size);
  });

  test("removes partial writes older than the grace period", async () => {
    const driver = freshDriver();
    const data = pseudoRandom("p", 5000);
    await driver.put(sha256(data), data);
    const part = join(driver.location, "tmp", `${sha256(data)}.00000000deadbeef.part`);
    await writeFile(part, data.subarray(0, 700));
    const old = new Date(Date.now() - 2 * HOUR);
    await utimes(part, old, old);
    const report = await collectGarbage(driver, {
      references: async () => new Set([sha256(data)]),
    });
    assert.equal(report.partials, 1);
    assert.equal(report.partialBytes, 700);
    assert.equal(report.deleted, 0);
  });

  test("an ingest reusing old unreferenced chunks while GC runs loses nothing", async () => {
    const { driver, store, m1 } = await twoVersions();
    await backdateAll(driver, 2 * HOUR);
    // The collector lists (every chunk is an old candidate), then takes its reference snapshot
    // only once a re-publish of v1 has finished — but before its manifest is committed.
    let ingest: Promise<Manifest> | undefined;
    const report = await collectGarbage(driver, {
      references: async () => {
        ingest = store.ingest(bufferRandomAccess(v1));
        await ingest;
        return new Set();
      },
    });
    const again = await ingest!;
    assert.deepEqual(again, m1);
    assert.equal(report.spared, manifestHashes(m1).size, "the refreshed chunks were spared");
    assert.equal((await store.verify(again, { content: true })).ok, true);
  });

  test("GC racing ingests (old chunks, nothing committed yet) never robs them", async () => {
    for (let round = 0; round < 4; round++) {
      const driver = freshDriver();
      const store = new ChunkStore(driver, { chunkSize: CHUNK });
      const m1 = await store.ingest(bufferRandomAccess(v1));
      await backdateAll(driver, 2 * HOUR);
      const committed = new Set<string>();
      const [manifest] = await Promise.all([
        store.ingest(inPieces(v1, [50_000])),
        collectGarbage(driver, { isReferenced: async (h) => committed.has(h), concurrency: 2 }),
      ]);
      for (const h of manifestHashes(manifest)) committed.add(h);
      assert.deepEqual(manifest, m1);
      const report = await store.verify(manifest, { content: true });
      assert.ok(report.ok, `round ${round}: ${JSON.stringify(report)}`);
    }
  });

  test("a long ingest keeps its chunks alive past the grace period", async () => {
    const driver = freshDriver();
    const store = new ChunkStore(driver, { chunkSize: CHUNK, keepAliveMs: 100 });
    const data = pseudoRandom("slow", 12 * CHUNK);
    async function* slow() {
      for (let i = 0; i < 12; i++) {
        await new Promise((r) => setTimeout(r, 50));
        yield data.subarray(i * CHUNK, (i + 1) * CHUNK);
      }
    }
    let collecting = true;
    let deleted = 0;
    const collector = (async () => {
      while (collecting) {
        const r = await collectGarbage(driver, { references: async () => new Set(), graceMs: 400 });
        deleted += r.deleted;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const m = await store.ingest(slow());
    collecting = false;
    await collector;
    assert.equal(deleted, 0);
    assert.equal((await store.verify(m)).ok, true);
  });
});
