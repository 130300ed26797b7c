/**
 * Download streams over the fs driver (`ChunkStore.stream`): they fetch only as their reader takes
 * bytes, stay within the process-wide limits, share chunks read together, and still end early —
 * never with wrong bytes — on a damaged chunk.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { buffer as collect } from "node:stream/consumers";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, test } from "node:test";
import { PIECE, StreamLimits } from "../../src/blobs/chunk-stream.js";
import { ChunkStore } from "../../src/blobs/chunk-store.js";
import { CorruptChunkError, type BlobDriver, type IoOptions } from "../../src/blobs/driver.js";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { SharedChunks } from "../../src/blobs/shared-chunks.js";
import { bufferRandomAccess } from "../../src/formats/random-access.js";

const CHUNK = 256 * 1024;

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** An fs driver that counts the chunk reads it serves and how many ran at once. */
class CountingDriver extends FsBlobDriver {
  gets = 0;
  running = 0;
  maxRunning = 0;

  constructor() {
    const dir = mkdtempSync(join(process.env.OCG_TEST_DATA ?? tmpdir(), "stream-"));
    dirs.push(dir);
    super(dir, { durability: "none" });
  }

  override async get(hash: string, options?: IoOptions): Promise<Buffer> {
    this.gets++;
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    try {
      return await super.get(hash, options);
    } finally {
      this.running--;
    }
  }
}

/** `chunks` chunks of random bytes with a hole (chunk 3) and a short last chunk. */
function content(chunks: number): Buffer {
  const data = randomBytes(chunks * CHUNK - 1000);
  data.fill(0, 3 * CHUNK, 4 * CHUNK);
  return data;
}

async function stored(driver: BlobDriver, data: Buffer, limits?: StreamLimits) {
  const store = new ChunkStore(driver, { chunkSize: CHUNK, streamLimits: limits });
  const manifest = await store.ingest(bufferRandomAccess(data));
  return { store, manifest };
}

/** Reads `stream` to its end or its error; what it delivered and how it ended. */
async function drain(stream: Readable) {
  const pieces: Buffer[] = [];
  try {
    for await (const piece of stream) pieces.push(piece as Buffer);
    return { data: Buffer.concat(pieces), error: undefined };
  } catch (error) {
    return { data: Buffer.concat(pieces), error };
  }
}

describe("ChunkStore.stream", () => {
  test("fetches only as the reader takes bytes: one chunk sent, one read ahead at most", async () => {
    const driver = new CountingDriver();
    const data = content(16);
    const { store, manifest } = await stored(driver, data);
    driver.gets = 0;

    const stream = store.stream(manifest);
    const iterator = stream[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as Buffer;
    assert.ok(first.length <= PIECE, `pieces of at most ${PIECE} bytes, got ${first.length}`);
    // A reader that stops reading stops the fetching: the chunk it reads and the one after.
    await sleep(100);
    assert.equal(driver.gets, 2);

    const rest: Buffer[] = [first];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      assert.ok((next.value as Buffer).length <= PIECE);
      rest.push(next.value as Buffer);
    }
    assert.ok(Buffer.concat(rest).equals(data));
    assert.equal(driver.gets, manifest.chunks.length, "each stored chunk read once, no hole read");
  });

  test("a range starting and ending inside chunks, read slowly, is exactly its bytes", async () => {
    const { store, manifest } = await stored(new CountingDriver(), content(6));
    const whole = await collect(store.stream(manifest));
    for (const [start, end] of [
      [CHUNK - 7, 2 * CHUNK + 5],
      [3 * CHUNK + 10, 4 * CHUNK + 10], // from inside the hole into data
      [100, 100],
      [manifest.size - 3, manifest.size - 1],
    ] as const) {
      const stream = store.stream(manifest, { start, end });
      const pieces: Buffer[] = [];
      for await (const piece of stream) {
        pieces.push(piece as Buffer);
        await sleep(2);
      }
      assert.ok(Buffer.concat(pieces).equals(whole.subarray(start, end + 1)), `${start}-${end}`);
    }
  });

  test("many streams stay within the shared fetch limit and each gets its own bytes", async () => {
    const limits = new StreamLimits({ fetches: 2, readAhead: 3 });
    const driver = new CountingDriver();
    const stores = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const data = content(5);
        return { data, ...(await stored(driver, data, limits)) };
      }),
    );
    driver.maxRunning = 0;
    const results = await Promise.all(
      stores.map(({ store, manifest }) => collect(store.stream(manifest))),
    );
    for (const [i, r] of results.entries()) assert.ok(r.equals(stores[i]!.data), `stream ${i}`);
    assert.ok(driver.maxRunning <= 2, `at most 2 reads at once, saw ${driver.maxRunning}`);
    assert.deepEqual(limits.usage(), { fetching: 0, waiting: 0, readAhead: 0 });
  });

  test("streams reading the same content together read each chunk about once", async () => {
    const driver = new CountingDriver();
    const data = content(12);
    const { store, manifest } = await stored(driver, data);
    driver.gets = 0;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => collect(store.stream(manifest))),
    );
    for (const r of results) assert.ok(r.equals(data));
    assert.ok(
      driver.gets < 2 * manifest.chunks.length,
      `${driver.gets} reads for ${manifest.chunks.length} chunks and 10 streams`,
    );
  });

  test("a destroyed stream frees its place: waiting fetches leave, read-ahead is returned", async () => {
    const limits = new StreamLimits({ fetches: 1, readAhead: 4 });
    const driver = new CountingDriver();
    const streams = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const { store, manifest } = await stored(driver, content(8), limits);
        return store.stream(manifest);
      }),
    );
    for (const s of streams) s.resume();
    await sleep(1);
    for (const s of streams) s.destroy();
    await sleep(50);
    assert.deepEqual(limits.usage(), { fetching: 0, waiting: 0, readAhead: 0 });
  });

  test("a damaged chunk ends every stream sharing it early, and is read afresh next time", async () => {
    const driver = new CountingDriver();
    const data = content(10);
    const { store, manifest } = await stored(driver, data);
    const [index, hash] = manifest.chunks.find(([i]) => i === 6)!;
    const path = driver.chunkPath(hash);
    const good = await readFile(path);
    const bad = Buffer.from(good);
    bad[1234] = bad[1234]! ^ 1;
    await writeFile(path, bad);

    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => drain(store.stream(manifest))),
    );
    for (const { data: prefix, error } of outcomes) {
      assert.ok(error instanceof CorruptChunkError, String(error));
      assert.equal(error.detail.index, index);
      assert.ok(prefix.length <= index * CHUNK, "no byte of the damaged chunk was sent");
      assert.ok(prefix.equals(data.subarray(0, prefix.length)), "what was sent is right");
    }

    await writeFile(path, good);
    assert.ok((await collect(store.stream(manifest))).equals(data), "the failure is not kept");
  });
});

describe("SharedChunks", () => {
  const HASH = "a".repeat(64);

  test("callers of one hash share a load; one leaving does not fail the others", async () => {
    const shared = new SharedChunks();
    let loads = 0;
    let finish!: (b: Buffer) => void;
    const load = () => {
      loads++;
      return new Promise<Buffer>((resolve) => (finish = resolve));
    };
    const leaving = new AbortController();
    const a = shared.get(HASH, leaving.signal, load);
    const b = shared.get(HASH, new AbortController().signal, load);
    leaving.abort(new Error("client went away"));
    await assert.rejects(a, /client went away/);
    const bytes = Buffer.from("chunk");
    finish(bytes);
    assert.equal(await b, bytes);
    assert.equal(loads, 1);
    // While someone holds the buffer, it is found without a load.
    assert.equal(await shared.get(HASH, new AbortController().signal, load), bytes);
    assert.equal(loads, 1);
  });

  test("a load every caller left is aborted and forgotten; a failed one is not kept", async () => {
    const shared = new SharedChunks();
    const signals: AbortSignal[] = [];
    const hanging = (signal: AbortSignal) => {
      signals.push(signal);
      return new Promise<Buffer>((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason)),
      );
    };
    const c = new AbortController();
    const p = shared.get(HASH, c.signal, hanging);
    c.abort(new Error("gone"));
    await assert.rejects(p, /gone/);
    assert.equal(signals[0]!.aborted, true, "the load itself was aborted");

    await assert.rejects(
      shared.get(HASH, new AbortController().signal, async () => {
        throw new Error("disk error");
      }),
      /disk error/,
    );
    const bytes = Buffer.from("fresh");
    assert.equal(await shared.get(HASH, new AbortController().signal, async () => bytes), bytes);
  });
});
