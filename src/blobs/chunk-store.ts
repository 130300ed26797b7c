/**
 * `ChunkStore`: content in and out of one `BlobDriver` as fixed-size, SHA-256-addressed chunks.
 *
 * Invariants:
 * - Wrong bytes are never returned. Every chunk read is re-hashed (and its length checked) before a
 *   byte of it is used; a mismatch is a `CorruptChunkError` naming the chunk, its index and the
 *   location. Holes are synthesized as zeros without touching the driver.
 * - An all-zero chunk is never hashed nor stored; the manifest has no entry for it.
 * - `ingest` is one streaming pass with memory bounded whatever the content's size: about
 *   `(readAhead + concurrency + 7) * chunkSize` with a source that offers `readInto` (buffers are
 *   recycled); a plain `read` source hands over a fresh buffer per chunk, and spent ones linger
 *   until V8 collects them (measured: ~125 MB more at 4 MiB chunks).
 * - The whole-content SHA-256 (holes included) is the one inherently sequential cost — every
 *   byte, zeros too — so it runs on a worker thread, fed in order through a small ring of shared
 *   buffers; the calling thread reads, skips all-zero chunks (a memcmp, no hashing), hashes the
 *   others and hands them to `concurrency` puts. Verifying reads hash on the libuv thread pool
 *   (WebCrypto), keeping the event loop free.
 * - A `stream` (a download) holds about one chunk while its reader is slow and two at most, with
 *   fetches and read-ahead bounded across all streams by one `StreamLimits`; streams reading the
 *   same chunk together verify it once and share its buffer (chunk-stream.ts, shared-chunks.ts).
 * - What `ingest` and `copyMissing` return is durable (`driver.sync` has run) and every chunk it
 *   references was put — written or refreshed — less than twice `keepAliveMs` ago. Commit the
 *   manifest promptly: garbage collection spares unreferenced chunks only for its grace period
 *   (gc.ts).
 * - Cancellation: `signal` and a throwing `onProgress` stop the work at the next chunk (a throwing
 *   `onProgress` of `copyMissing`: at the next batch); in-flight puts are aborted and awaited before
 *   the promise rejects, so nothing runs on afterwards. Chunks already stored stay (unreferenced,
 *   they are garbage collection's).
 */
import { createHash, webcrypto } from "node:crypto";
import { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { checkRange, type RandomAccess } from "../formats/random-access.js";
import { ChunkStream, PIECE, StreamLimits } from "./chunk-stream.js";
import { SharedChunks } from "./shared-chunks.js";
import {
  ChunkNotFoundError,
  CorruptChunkError,
  type BlobDriver,
  type RefreshOptions,
} from "./driver.js";
import { abortable } from "./abortable.js";
import { DEFAULT_GC_GRACE_MS } from "./gc.js";
import { chunkLength, type ChunkHash, type DigestedManifest, type Manifest } from "./manifest.js";

/**
 * 256 KiB: on the corpus, v2 after v1 adds 90 MiB at this size (0.42× v1's 214 MiB, inside the
 * 0.45× goal) against 168 MiB at 4 MiB, with 4× fewer chunks than 64 KiB and the same hashing
 * speed. BENCHMARKS.md has the measurement (npm run bench:chunk-size).
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;

/**
 * Chunks whose presence `copyMissing` checks (and links or copies) in one driver call: large
 * enough that per-call costs vanish (the fs driver sends a batch to worker threads, a message each
 * way per slice), small enough that progress and keep-alive refreshes come often. (512 measured
 * the same.)
 */
const COPY_BATCH = 128;

export interface ChunkStoreOptions {
  /** Length of the chunks `ingest` cuts (reading uses the manifest's own). Default 4 MiB. */
  chunkSize?: number;
  /** Chunks hashed and stored (or fetched and verified) at once. Default 4. */
  concurrency?: number;
  /** Chunks `ingest` and `verify` read ahead of the one being processed. Default 2. */
  readAhead?: number;
  /**
   * The budget of `stream`s (fetches in flight, chunks read ahead); share one among all the
   * stores of a process so that it bounds the memory of all its downloads. Default: its own.
   */
  streamLimits?: StreamLimits;
  /**
   * How often a long `ingest` or `copyMissing` refreshes (`driver.touch`) the chunks it has put,
   * so that none ages past garbage collection's grace before its manifest is committed; a chunk
   * refreshed more recently than this is left alone. Must be under half the grace period; default
   * a third of `DEFAULT_GC_GRACE_MS`.
   */
  keepAliveMs?: number;
}

export interface IngestProgress {
  /** Bytes of the source consumed so far. */
  readonly bytesRead: number;
  /** The source's size when known up front (random access), else undefined. */
  readonly size: number | undefined;
  /** Chunk slots consumed (stored or holes). */
  readonly chunks: number;
  /** All-zero chunks skipped. */
  readonly zero: number;
  /** Chunks whose put has finished, by outcome, and the bytes written. */
  readonly written: number;
  readonly existed: number;
  readonly writtenBytes: number;
  /** True on the last call, once every put has finished. */
  readonly done: boolean;
}

/**
 * Called once per chunk consumed and once at the end. It is the heartbeat and a cancellation
 * point: if it throws (or its promise rejects) the operation stops and rejects with that error.
 */
export type ProgressCallback<P> = (progress: P) => void | Promise<void>;

export interface CopyProgress {
  readonly chunks: number;
  readonly total: number;
  readonly copied: number;
  readonly skipped: number;
  readonly bytes: number;
}

export interface CopyResult {
  /** Chunks fetched from the source (verified) and written here. */
  readonly copied: number;
  /** Chunks this store already had (refreshed, not copied). */
  readonly skipped: number;
  /** Bytes copied. */
  readonly bytes: number;
}

export interface VerifyReport {
  /** True when every chunk is present and intact (and, with `content`, the digest matches). */
  readonly ok: boolean;
  /** Distinct chunks read and checked, and their bytes. */
  readonly chunks: number;
  readonly bytes: number;
  readonly missing: readonly (readonly [index: number, hash: ChunkHash])[];
  readonly corrupt: readonly (readonly [index: number, hash: ChunkHash])[];
  /** With `content`: the recomputed whole-content SHA-256, when every chunk could be read. */
  readonly sha256?: string;
}

/** Distinct chunks checked so far, and their bytes. */
export interface CheckProgress {
  readonly chunks: number;
  readonly bytes: number;
}

interface Signalled {
  signal?: AbortSignal;
}

export class ChunkStore {
  readonly chunkSize: number;
  private readonly concurrency: number;
  private readonly readAhead: number;
  private readonly keepAliveMs: number;
  private readonly zeros: Buffer;
  private readonly streamZeros = Buffer.alloc(PIECE);
  private readonly streamLimits: StreamLimits;
  private readonly shared = new SharedChunks();
  private readonly indexes = new WeakMap<Manifest, Map<number, ChunkHash>>();

  constructor(
    readonly driver: BlobDriver,
    options: ChunkStoreOptions = {},
  ) {
    this.chunkSize = positiveInteger(options.chunkSize ?? DEFAULT_CHUNK_SIZE, "chunkSize");
    this.concurrency = positiveInteger(options.concurrency ?? 4, "concurrency");
    this.readAhead = positiveInteger(options.readAhead ?? 2, "readAhead");
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_GC_GRACE_MS / 3;
    this.zeros = Buffer.alloc(this.chunkSize);
    this.streamLimits = options.streamLimits ?? new StreamLimits();
  }

  /**
   * Cuts `source` into chunks, stores the non-zero ones and returns their manifest with the
   * SHA-256 of the whole content. A random-access source is read chunk by chunk (with read-ahead,
   * into recycled buffers if it offers `readInto`); an async iterable may yield buffers of any
   * size (they are copied, so it may reuse them).
   */
  async ingest(
    source: RandomAccess | AsyncIterable<Uint8Array>,
    { signal, onProgress }: Signalled & { onProgress?: ProgressCallback<IngestProgress> } = {},
  ): Promise<DigestedManifest> {
    signal?.throwIfAborted();
    const knownSize = isRandomAccess(source) ? source.size : undefined;
    const whole = new ContentDigest(this.chunkSize);
    const chunks: [number, ChunkHash][] = [];
    const keepAlive = new KeepAlive(this.driver.location, this.keepAliveMs, (hashes, options) =>
      this.touchAll(hashes, options),
    );
    const put = new Set<ChunkHash>();
    const p = { bytesRead: 0, chunks: 0, zero: 0, written: 0, existed: 0, writtenBytes: 0 };
    const report = (done: boolean) => onProgress?.({ ...p, size: knownSize, done });

    const { chunkSize, readAhead } = this;
    const pool = new BufferPool(chunkSize, readAhead + this.concurrency + 2);
    const isZero = (data: Buffer) => this.isZero(data);
    async function* nonZeroChunks(tasksSignal: AbortSignal) {
      const pieces = isRandomAccess(source)
        ? readChunks(source, chunkSize, readAhead, pool, tasksSignal)
        : recut(source, pool, tasksSignal);
      let index = 0;
      for await (const { data, release } of pieces) {
        p.bytesRead += data.length;
        p.chunks++;
        if (isZero(data)) {
          whole.zeros(data.length);
          release();
          p.zero++;
        } else {
          await whole.update(data);
          yield { index, data, release };
        }
        index++;
        await report(false);
        await keepAlive.due(tasksSignal);
      }
    }

    try {
      const task = async ({ index, data, release }: Piece & { index: number }, s: AbortSignal) => {
        // On the calling thread: cheaper than WebCrypto's copy, and the worker has the other core.
        const hash = createHash("sha256").update(data).digest("hex");
        chunks.push([index, hash]);
        if (put.has(hash)) {
          p.existed++;
        } else {
          put.add(hash);
          const outcome = await this.driver.put(hash, data, { signal: s });
          keepAlive.add(hash);
          p[outcome]++;
          if (outcome === "written") p.writtenBytes += data.length;
        }
        release(); // only on success: after a failure the buffer is left to the garbage collector
      };
      await runBounded(nonZeroChunks, this.concurrency, signal, task);
      if (knownSize !== undefined && p.bytesRead !== knownSize) {
        throw new Error(`source yielded ${p.bytesRead} bytes, expected ${knownSize}`);
      }
      const sha256 = await whole.digest();
      await this.driver.sync({ signal });
      await report(true);
      chunks.sort((a, b) => a[0] - b[0]);
      return { size: p.bytesRead, chunkSize: this.chunkSize, sha256, chunks };
    } finally {
      await whole.close();
    }
  }

  /**
   * Stores one chunk and returns its address. A chunk already here is refreshed as `ingest`'s are,
   * so garbage collection leaves it alone until a manifest naming it is recorded.
   */
  async putChunk(data: Buffer, { signal }: Signalled = {}): Promise<ChunkHash> {
    const hash = await sha256Hex(data);
    await this.driver.put(hash, data, { signal });
    return hash;
  }

  /**
   * `length` bytes at `offset`, every chunk verified; holes read as zeros. Bytes past the end are a
   * `ReadRangeError` (the `RandomAccess` contract); a damaged chunk a `CorruptChunkError`, a
   * missing one a `ChunkNotFoundError`.
   */
  async read(
    manifest: Manifest,
    offset: number,
    length: number,
    { signal }: Signalled = {},
  ): Promise<Buffer> {
    checkRange(manifest.size, offset, length);
    signal?.throwIfAborted();
    const out = Buffer.alloc(length);
    if (length === 0) return out;
    const cs = manifest.chunkSize;
    const index = this.indexOf(manifest);
    function* stored() {
      for (let i = Math.floor(offset / cs); i <= Math.floor((offset + length - 1) / cs); i++) {
        const hash = index.get(i);
        if (hash) yield { i, hash };
      }
    }
    await runBounded(stored, this.concurrency, signal, async ({ i, hash }, s) => {
      const data = await this.fetchVerified(manifest, i, hash, s);
      const start = i * cs;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + data.length);
      data.copy(out, from - offset, from - start, to - start);
    });
    return out;
  }

  /**
   * The bytes from `start` to `end` (both inclusive, as in `fs.createReadStream` and HTTP ranges;
   * default the whole content) as a byte stream that fetches as its reader takes bytes, one chunk
   * read ahead at most (`ChunkStream`, within this store's `streamLimits`). Streams reading the same
   * chunk at the same time share its verified buffer (`SharedChunks`). A damaged or missing chunk
   * destroys the stream with the error: it ends early, never with wrong bytes.
   */
  stream(
    manifest: Manifest,
    {
      start = 0,
      end = manifest.size - 1,
      signal,
    }: Signalled & { start?: number; end?: number } = {},
  ): Readable {
    checkRange(manifest.size, start, end - start + 1);
    if (end < start) return Readable.from([], { objectMode: false });
    const index = this.indexOf(manifest);
    return new ChunkStream({
      start,
      end,
      chunkSize: manifest.chunkSize,
      stored: (i) => index.has(i),
      fetch: (i, signal) => {
        const hash = index.get(i)!;
        return this.shared.get(hash, signal, (s) =>
          this.streamLimits.fetch(s, () => this.fetchVerified(manifest, i, hash, s)),
        );
      },
      zeros: this.streamZeros,
      limits: this.streamLimits,
      signal,
    });
  }

  /** The manifest's content as a `RandomAccess`, so format readers can read a stored version. */
  randomAccess(manifest: Manifest): RandomAccess {
    return {
      size: manifest.size,
      read: (offset, length, options) => this.read(manifest, offset, length, options),
    };
  }

  /**
   * Makes every chunk of `manifest` present here, taking only those this store lacks from `from`:
   * stored by the driver where it can (`adopt`: a hard link names the source's own file, so no
   * byte moves and none is read — every later read of it, under either name, is verified; or a
   * copy the driver makes file to file, verified as it reads), otherwise fetched (verified as read,
   * so a damaged source copy is a `CorruptChunkError`, never stored) and put. Chunks already here
   * are refreshed, not compared: `verify` checks them. Presence checks, links and the driver's
   * copies go `COPY_BATCH` at a time, which is what makes a version that shares most of its chunks
   * with the last one cheap to replicate; progress is reported at least once a batch.
   */
  async copyMissing(
    manifest: Manifest,
    from: ChunkStore,
    {
      signal,
      onProgress,
      present,
    }: Signalled & {
      onProgress?: ProgressCallback<CopyProgress>;
      /**
       * Chunks the caller knows are here and kept from garbage collection until its manifest is
       * committed (gc.ts, rule P): neither touched nor copied, whatever their age.
       */
      present?: ReadonlySet<ChunkHash>;
    } = {},
  ): Promise<CopyResult> {
    signal?.throwIfAborted();
    const all = [...firstIndexOfEach(manifest)];
    const distinct = present ? all.filter(([hash]) => !present.has(hash)) : all;
    const keepAlive = new KeepAlive(this.driver.location, this.keepAliveMs, (hashes, options) =>
      this.touchAll(hashes, options),
    );
    const known = all.length - distinct.length;
    const p = { chunks: known, total: all.length, copied: 0, skipped: known, bytes: 0 };
    for (let at = 0; at < distinct.length; at += COPY_BATCH) {
      signal?.throwIfAborted();
      const batch = distinct.slice(at, at + COPY_BATCH);
      const freshSince = keepAlive.freshSince();
      const present = await this.touchAll(
        batch.map(([hash]) => hash),
        { signal, freshSince },
      );
      let missing = batch.filter((_, i) => !present[i]);
      p.skipped += batch.length - missing.length;
      const shared =
        missing.length && this.driver.adopt
          ? await this.driver.adopt(
              missing.map(([hash]) => hash),
              from.driver,
              { signal, freshSince },
            )
          : [];
      missing = missing.filter(([, index], i) => {
        const outcome = shared[i];
        if (outcome === "written") {
          p.copied++;
          p.bytes += chunkLength(manifest, index);
        } else if (outcome === "existed") {
          p.skipped++;
        }
        return outcome === undefined;
      });
      for (const [hash] of batch) keepAlive.add(hash);
      p.chunks += batch.length - missing.length;
      await onProgress?.({ ...p });
      await runBounded(
        () => missing,
        this.concurrency,
        signal,
        async ([hash, index], s) => {
          const data = await from.fetchVerified(manifest, index, hash, s);
          if ((await this.driver.put(hash, data, { signal: s })) === "written") {
            p.copied++;
            p.bytes += data.length;
          } else {
            p.skipped++;
          }
          p.chunks++;
          await onProgress?.({ ...p });
        },
      );
      await keepAlive.due(signal);
      // A driver that answers a batch synchronously resolves at once, and awaiting it yields only
      // to microtasks: let timers, I/O and other jobs run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.driver.sync({ signal });
    return { copied: p.copied, skipped: p.skipped, bytes: p.bytes };
  }

  /** `touch` of each hash, in one driver call where the driver takes batches. */
  private async touchAll(
    hashes: readonly ChunkHash[],
    options: RefreshOptions,
  ): Promise<boolean[]> {
    if (this.driver.touchMany) return this.driver.touchMany(hashes, options);
    const present = new Array<boolean>(hashes.length).fill(false);
    await runBounded(
      () => hashes.keys(),
      this.concurrency,
      options.signal,
      async (i, signal) => {
        present[i] = await this.driver.touch(hashes[i]!, { signal });
      },
    );
    return present;
  }

  /**
   * Reads and checks every distinct chunk of `manifest`, collecting the missing and damaged ones
   * rather than stopping at the first. With `content`, it also recomputes the whole-content
   * SHA-256 (hashing the holes as zeros: as costly as hashing the provisioned size) and, when the
   * manifest has one, compares it with `manifest.sha256`. Other errors (I/O, abort) reject.
   */
  async verify(
    manifest: Manifest,
    options: Signalled & { content?: boolean; onProgress?: ProgressCallback<CheckProgress> } = {},
  ): Promise<VerifyReport> {
    return this.check(manifest, { ...options, failFast: false });
  }

  /**
   * The SHA-256 of `manifest`'s whole content, every chunk read and verified: what a manifest
   * without one (`Manifest.sha256`) gets when a version needs it. The first missing or damaged
   * chunk rejects with its `ChunkNotFoundError` or `CorruptChunkError`, as a read would.
   */
  async contentDigest(
    manifest: Manifest,
    options: Signalled & { onProgress?: ProgressCallback<CheckProgress> } = {},
  ): Promise<string> {
    const report = await this.check(manifest, { ...options, content: true, failFast: true });
    if (!report.ok || !report.sha256) {
      throw new Error(
        `the content hashes to ${report.sha256}, its manifest says ${manifest.sha256}`,
      );
    }
    return report.sha256;
  }

  private async check(
    manifest: Manifest,
    {
      signal,
      content = false,
      onProgress,
      failFast,
    }: Signalled & {
      content?: boolean;
      onProgress?: ProgressCallback<CheckProgress>;
      failFast: boolean;
    },
  ): Promise<VerifyReport> {
    signal?.throwIfAborted();
    const index = this.indexOf(manifest);
    const whole = content ? new ContentDigest(manifest.chunkSize) : undefined;
    try {
      const missing: [number, ChunkHash][] = [];
      const corrupt: [number, ChunkHash][] = [];
      const checked = new Set<ChunkHash>();
      let bytes = 0;
      // With `content` every stored index is read in order (a chunk repeated is hashed each time);
      // the holes between them go to the digest as one run of zeros each, not chunk by chunk.
      const indices = content
        ? manifest.chunks.map(([i]) => i).values()
        : firstIndexOfEach(manifest).values();
      let hashedUpTo = 0;
      for await (const { index: i, data, error } of this.inOrder(manifest, indices, signal)) {
        const hash = index.get(i)!;
        if (error) {
          if (failFast) throw error;
          if (error instanceof ChunkNotFoundError) missing.push([i, hash]);
          else if (error instanceof CorruptChunkError) corrupt.push([i, hash]);
          else throw error;
        } else if (data && !checked.has(hash)) {
          checked.add(hash);
          bytes += data.length;
        }
        if (whole && data) {
          const start = i * manifest.chunkSize;
          if (start > hashedUpTo) whole.zeros(start - hashedUpTo);
          await whole.update(data);
          hashedUpTo = start + data.length;
        }
        await onProgress?.({ chunks: checked.size, bytes });
      }
      const problems = missing.length + corrupt.length;
      if (whole && manifest.size > hashedUpTo) whole.zeros(manifest.size - hashedUpTo);
      // The zeros of a vast disk take the worker minutes: an abort must not wait for them.
      const sha256 = whole && problems === 0 ? await abortable(whole.digest(), signal) : undefined;
      const digestAgrees = manifest.sha256 === undefined || sha256 === manifest.sha256;
      return {
        ok: problems === 0 && (!content || digestAgrees),
        chunks: checked.size,
        bytes,
        missing,
        corrupt,
        ...(sha256 ? { sha256 } : {}),
      };
    } finally {
      await whole?.close();
    }
  }

  /** A chunk's bytes from this store's driver, verified against its hash and expected length. */
  private async fetchVerified(
    manifest: Manifest,
    index: number,
    hash: ChunkHash,
    signal: AbortSignal | undefined,
  ): Promise<Buffer> {
    const data = await this.driver.get(hash, { signal });
    const expectedLength = chunkLength(manifest, index);
    const actual = await sha256Hex(data);
    if (actual !== hash || data.length !== expectedLength) {
      throw new CorruptChunkError(hash, this.driver.location, {
        index,
        actual,
        length: data.length,
        expectedLength,
      });
    }
    return data;
  }

  /**
   * Yields the chunks at `indices` in order — `data` undefined for a hole, `error` for a chunk
   * that could not be fetched or verified — with up to `readAhead` fetches beyond the current one
   * (at least `concurrency` when verifying everything).
   */
  private async *inOrder(
    manifest: Manifest,
    indices: Iterator<number>,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<{ index: number; data?: Buffer; error?: unknown }> {
    const index = this.indexOf(manifest);
    const ahead: { index: number; fetch?: Promise<Buffer> }[] = [];
    const depth = Math.max(this.readAhead, this.concurrency);
    let fetching = 0;
    let exhausted = false;
    const fill = () => {
      // Holes cost nothing to queue, but are capped so a vast sparse range stays small in memory.
      while (!exhausted && fetching < depth && ahead.length < depth * 64) {
        const next = indices.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const hash = index.get(next.value);
        const fetch = hash ? this.fetchVerified(manifest, next.value, hash, signal) : undefined;
        if (fetch) {
          fetching++;
          fetch.catch(() => {}); // observed below; this only keeps an abandoned one quiet
        }
        ahead.push({ index: next.value, fetch });
      }
    };
    fill();
    while (ahead.length) {
      signal?.throwIfAborted();
      const { index: i, fetch } = ahead.shift()!;
      if (fetch) fetching--;
      fill();
      if (!fetch) {
        yield { index: i };
        continue;
      }
      try {
        yield { index: i, data: await fetch };
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        yield { index: i, error };
      }
    }
  }

  private indexOf(manifest: Manifest): Map<number, ChunkHash> {
    let map = this.indexes.get(manifest);
    if (!map) {
      map = new Map(manifest.chunks.map(([i, hash]) => [i, hash]));
      this.indexes.set(manifest, map);
    }
    return map;
  }

  private isZero(data: Buffer): boolean {
    return data.length <= this.zeros.length
      ? data.equals(this.zeros.subarray(0, data.length))
      : data.every((b) => b === 0);
  }
}

/**
 * The SHA-256 of a whole content, fed in order, computed on a worker thread so that it runs beside
 * the chunk hashing and I/O rather than after them (it is the one inherently sequential cost of
 * an ingest: every byte, zeros included). Data is copied into a ring of shared slots (the copy is
 * cheap next to hashing); `update` waits for a free slot, which bounds memory and applies
 * backpressure. Runs of zeros are only counted and hashed from the worker's own zero buffer.
 */
class ContentDigest {
  private static readonly SLOTS = 4;
  private static readonly SOURCE = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { createHash } = require("node:crypto");
    const ring = Buffer.from(workerData.ring);
    const slotSize = workerData.slotSize;
    const zeros = Buffer.alloc(Math.min(slotSize, 1 << 20));
    const hash = createHash("sha256");
    parentPort.on("message", (m) => {
      if (m.slot !== undefined) {
        hash.update(ring.subarray(m.slot * slotSize, m.slot * slotSize + m.length));
        parentPort.postMessage({ free: m.slot });
      } else if (m.zeros !== undefined) {
        for (let left = m.zeros; left > 0; left -= zeros.length) {
          hash.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
        }
      } else if (m.end) {
        parentPort.postMessage({ digest: hash.digest("hex") });
      }
    });`;

  private readonly worker: Worker;
  private readonly ring: Buffer;
  private readonly free: number[] = [];
  private readonly waiting: { resolve: (slot: number) => void; reject: (e: unknown) => void }[] =
    [];
  private result: { resolve: (hex: string) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  private closing = false;

  constructor(private readonly slotSize: number) {
    const shared = new SharedArrayBuffer(slotSize * ContentDigest.SLOTS);
    this.ring = Buffer.from(shared);
    for (let i = 0; i < ContentDigest.SLOTS; i++) this.free.push(i);
    this.worker = new Worker(ContentDigest.SOURCE, {
      eval: true,
      workerData: { ring: shared, slotSize },
    });
    this.worker.on("message", (m: { free?: number; digest?: string }) => {
      if (m.free !== undefined) {
        const next = this.waiting.shift();
        if (next) next.resolve(m.free);
        else this.free.push(m.free);
      } else if (m.digest !== undefined) {
        this.result?.resolve(m.digest);
      }
    });
    this.worker.on("error", (error) => this.fail(error));
    this.worker.on("exit", (code) => {
      if (!this.closing) this.fail(new Error(`content digest worker exited with code ${code}`));
    });
  }

  /** Feeds `data` (at most `slotSize` bytes); resolves once it is copied, so it may be reused. */
  async update(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    const slot =
      this.free.pop() ??
      (await new Promise<number>((resolve, reject) => this.waiting.push({ resolve, reject })));
    this.ring.set(data, slot * this.slotSize);
    this.worker.postMessage({ slot, length: data.length });
  }

  /** Feeds `length` zero bytes without copying any. */
  zeros(length: number): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage({ zeros: length });
  }

  /** The lower-case hex SHA-256 of everything fed so far; call once. */
  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker.postMessage({ end: true });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    for (const w of this.waiting.splice(0)) w.reject(error);
    this.result?.reject(error);
  }
}

/** Lower-case hex SHA-256, computed on the libuv thread pool (keeps the event loop free). */
async function sha256Hex(data: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest("SHA-256", data)).toString("hex");
}

function isRandomAccess(source: unknown): source is RandomAccess {
  const s = source as Partial<RandomAccess> & { [Symbol.asyncIterator]?: unknown };
  return typeof s.size === "number" && typeof s.read === "function" && !(Symbol.asyncIterator in s);
}

/**
 * An optional capability of a `RandomAccess`: filling the caller's buffer with the
 * `target.length` bytes at `offset` (same range rules as `read`). With it `ingest` recycles a few
 * chunk buffers instead of taking a fresh one per chunk, which keeps its memory small and flat
 * rather than at the mercy of when the garbage collector frees spent buffers.
 */
export interface RandomAccessInto extends RandomAccess {
  readInto(target: Uint8Array, offset: number, options?: { signal?: AbortSignal }): Promise<void>;
}

/** One chunk of input, and how to hand its buffer back for reuse once done with it. */
interface Piece {
  data: Buffer;
  release: () => void;
}

const noRelease = () => {};

/** Chunk-sized buffers for reuse: `take` one, `give` it back when no one reads it any more. */
class BufferPool {
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (this.spare.length < this.keep) this.spare.push(buffer);
  }
}

/** Reads a random-access source chunk by chunk, keeping `readAhead` reads in flight. */
async function* readChunks(
  source: RandomAccess,
  chunkSize: number,
  readAhead: number,
  pool: BufferPool,
  signal: AbortSignal,
): AsyncGenerator<Piece> {
  const into = typeof (source as Partial<RandomAccessInto>).readInto === "function";
  const count = Math.ceil(source.size / chunkSize);
  const queue: { length: number; read: Promise<Buffer>; release: () => void }[] = [];
  let next = 0;
  const issue = () => {
    const offset = next * chunkSize;
    const length = Math.min(chunkSize, source.size - offset);
    let read: Promise<Buffer>;
    let release = noRelease;
    if (into) {
      const buffer = pool.take();
      const target = buffer.subarray(0, length);
      read = (source as RandomAccessInto).readInto(target, offset, { signal }).then(() => target);
      release = () => pool.give(buffer);
    } else {
      read = source.read(offset, length, { signal });
    }
    read.catch(() => {}); // observed when its turn comes; this only keeps an abandoned one quiet
    queue.push({ length, read, release });
    next++;
  };
  while (next < count && queue.length < readAhead) issue();
  while (queue.length) {
    const { length, read, release } = queue.shift()!;
    const data = await read;
    if (next < count) issue();
    if (data.length !== length) {
      throw new Error(`short read from source: ${data.length} of ${length} bytes`);
    }
    yield { data, release };
  }
}

/** Re-cuts buffers of any size into chunk-sized pieces (the last may be shorter), copying. */
async function* recut(
  source: AsyncIterable<Uint8Array>,
  pool: BufferPool,
  signal: AbortSignal,
): AsyncGenerator<Piece> {
  let pending = pool.take();
  let filled = 0;
  const piece = (length: number): Piece => {
    const buffer = pending;
    return { data: buffer.subarray(0, length), release: () => pool.give(buffer) };
  };
  for await (const input of source) {
    signal.throwIfAborted();
    let pos = 0;
    while (pos < input.length) {
      const n = Math.min(pending.length - filled, input.length - pos);
      pending.set(input.subarray(pos, pos + n), filled);
      filled += n;
      pos += n;
      if (filled === pending.length) {
        yield piece(filled);
        pending = pool.take();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield piece(filled);
}

/**
 * Runs `task` for each item of `items(signal)` with at most `limit` running at once. The first
 * failure (of a task, of the item source, or the outer abort) aborts the shared signal, stops
 * taking items, waits for every running task to settle, and is rethrown.
 */
async function runBounded<T>(
  items: (signal: AbortSignal) => Iterable<T> | AsyncIterable<T>,
  limit: number,
  outer: AbortSignal | undefined,
  task: (item: T, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    if (failure) return;
    failure = { error };
    controller.abort(error);
  };
  try {
    for await (const item of items(signal)) {
      const run: Promise<void> = task(item, signal)
        .catch(fail)
        .finally(() => running.delete(run));
      running.add(run);
      while (running.size >= limit && !failure) await Promise.race(running);
      if (failure) break;
    }
  } catch (error) {
    fail(error);
  }
  await Promise.all(running);
  if (failure) throw failure.error;
}

/**
 * Tracks the chunks an operation has put and refreshes them every `intervalMs`, so none ages past
 * garbage collection's grace period while the operation runs. A chunk modified within the last
 * interval is left alone (`freshSince`), so every chunk added is less than two intervals old at
 * any time. A chunk that has vanished means the grace period is shorter than the interval allows:
 * an error, never silently ignored.
 */
class KeepAlive {
  private readonly hashes: ChunkHash[] = [];
  private last = Date.now();

  constructor(
    private readonly location: string,
    private readonly intervalMs: number,
    private readonly touchAll: (
      hashes: readonly ChunkHash[],
      options: RefreshOptions,
    ) => Promise<boolean[]>,
  ) {}

  add(hash: ChunkHash): void {
    this.hashes.push(hash);
  }

  /** What a refresh may skip: chunks modified within the last interval. */
  freshSince(): Date {
    return new Date(Date.now() - this.intervalMs);
  }

  async due(signal: AbortSignal | undefined): Promise<void> {
    if (Date.now() - this.last < this.intervalMs) return;
    this.last = Date.now();
    const hashes = [...this.hashes];
    for (let at = 0; at < hashes.length; at += COPY_BATCH) {
      const batch = hashes.slice(at, at + COPY_BATCH);
      const present = await this.touchAll(batch, { signal, freshSince: this.freshSince() });
      const lost = batch.find((_, i) => !present[i]);
      if (lost) {
        throw new ChunkNotFoundError(lost, this.location, {
          cause: new Error(
            "removed while its ingest or copy was running: is the GC grace too short?",
          ),
        });
      }
    }
  }
}

function firstIndexOfEach(manifest: Manifest): Map<ChunkHash, number> {
  const first = new Map<ChunkHash, number>();
  for (const [index, hash] of manifest.chunks) if (!first.has(hash)) first.set(hash, index);
  return first;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
