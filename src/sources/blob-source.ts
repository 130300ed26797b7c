/**
 * A `RandomAccess` over a blob read through its URI (a SAS URL or a public blob, in Azure Storage,
 * Azurite, or any HTTP server that does ranges): Get Blob Properties once, Get Page Ranges once
 * for a page blob, then ranged Get Blob reads.
 *
 * Invariants:
 * - Holes cost nothing: a page blob's data ranges are known from the start, and reads of bytes
 *   outside them are zeros made here, never downloaded. Reading a 4 GiB sparse VHD downloads only
 *   its written pages.
 * - One version of the blob is read: every GET carries `If-Match` with the ETag that Get Blob
 *   Properties saw, so a blob changed mid-read is a "changed" error, never a mix of two versions.
 * - Reads are served from blocks of `blockSize` bytes (one ranged GET each, trimmed to the data
 *   they hold). A sequential reader (the chunk store's ingest) gets up to `readAhead` blocks with
 *   data fetched ahead of it, at most `concurrency` requests in flight; blocks behind it are
 *   dropped, so memory stays about `(readAhead + 2) × blockSize`.
 * - Transient failures (5xx, 408, 429, connection errors, a request over `timeoutMs`) are retried
 *   with exponential backoff and jitter; everything else fails at once as a `BlobSourceError`.
 * - `close()` (or the `signal` given to `openBlobSource`) aborts every request in flight; a read's
 *   own `signal` stops that read waiting.
 *
 * Plain `fetch` (Node's undici) rather than `@azure/storage-blob`: the three calls needed are a few
 * lines each, the SDK would be a runtime dependency of some 2 MB, and a SAS URL is all the
 * authentication there is. It also reads from any HTTP server that honours `Range`.
 */
import { checkRange } from "../formats/random-access.js";
import { abortable } from "../blobs/abortable.js";
import type { RandomAccessInto } from "../blobs/chunk-store.js";
import { BlobSourceError } from "./errors.js";
import { checkStorageAccount, parseBlobUri, type BlobUri } from "./uri.js";

/** The storage REST version sent as `x-ms-version` (paged Get Page Ranges needs 2020-10-02+). */
export const STORAGE_API_VERSION = "2021-12-02";
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 8;

export type BlobType = "PageBlob" | "BlockBlob" | "AppendBlob";
/** Inclusive byte range `[start, end]`. */
export type ByteRange = readonly [start: number, end: number];

export interface RetryOptions {
  /** Tries per request, the first included. Default 5. */
  attempts?: number;
  /** First backoff; doubled per retry, with full jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Largest backoff. Default 10 s. */
  maxDelayMs?: number;
}

export interface BlobSourceOptions {
  /** The storage account the blob must be in (ARM id), checked against the URI's account. */
  storageAccountId?: string;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Bytes per ranged GET and per cached block (a multiple of 512). Default 4 MiB. */
  blockSize?: number;
  /** Blocks with data fetched ahead of a sequential reader. Default `concurrency`. */
  readAhead?: number;
  retry?: RetryOptions;
  /** One request's limit, headers and body. Default 60 s. */
  timeoutMs?: number;
  /** Aborts opening and, later, every request of the source. */
  signal?: AbortSignal;
}

export interface BlobProperties {
  readonly size: number;
  /** `x-ms-blob-type`; undefined when the server is not Azure Storage. */
  readonly blobType: BlobType | undefined;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
  /** `Content-MD5` (base64), when the service keeps one (block blobs uploaded whole). */
  readonly contentMd5: string | undefined;
  readonly contentType: string | undefined;
}

export interface BlobSourceStats {
  /** HTTP requests made, retries included, and how many were retries. */
  readonly requests: number;
  readonly retries: number;
  /** Body bytes downloaded by ranged reads. */
  readonly bytesFetched: number;
  /** Blocks fetched, and blocks served as zeros without a request. */
  readonly blocksFetched: number;
  readonly holeBlocks: number;
}

export interface BlobSource extends RandomAccessInto {
  /** The URI without its SAS (for messages and logs). */
  readonly uri: string;
  readonly properties: BlobProperties;
  /**
   * Where the data is, sorted and disjoint: a page blob's page ranges (adjacent ones merged), or
   * the whole content for any other blob. Bytes outside read as zeros.
   */
  readonly dataRanges: readonly ByteRange[];
  /** The bytes inside `dataRanges`. */
  readonly dataBytes: number;
  readonly stats: BlobSourceStats;
  /** Aborts whatever is in flight and refuses further reads (idempotent). */
  close(): void;
}

/**
 * Opens the blob at `uri`: Get Blob Properties and, for a page blob, Get Page Ranges. Fails with a
 * `BlobSourceError` ("bad-uri", "account-mismatch", "not-found", "access-denied", "sas-expired",
 * "unreachable", "server-error", "rejected").
 */
export async function openBlobSource(
  uri: string,
  options: BlobSourceOptions = {},
): Promise<BlobSource> {
  const blob = parseBlobUri(uri);
  if (options.storageAccountId !== undefined) checkStorageAccount(blob, options.storageAccountId);
  const source = new HttpBlobSource(blob, options);
  try {
    await source.open();
  } catch (err) {
    source.close();
    throw err;
  }
  return source;
}

/** A condition worth another try; `error` is what is thrown once the tries are spent. */
class Transient extends Error {
  constructor(readonly error: BlobSourceError) {
    super(error.message);
  }
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

class HttpBlobSource implements BlobSource {
  readonly uri: string;
  properties!: BlobProperties;
  dataRanges: readonly ByteRange[] = [];
  dataBytes = 0;
  readonly stats = { requests: 0, retries: 0, bytesFetched: 0, blocksFetched: 0, holeBlocks: 0 };

  private readonly controller = new AbortController();
  private readonly blockSize: number;
  private readonly readAhead: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly limiter: Limiter;
  private readonly blocks = new Map<number, Promise<Buffer | undefined>>();
  private lastEnd = 0;

  constructor(
    private readonly blob: BlobUri,
    options: BlobSourceOptions,
  ) {
    this.uri = blob.display;
    const concurrency = positive(options.concurrency ?? DEFAULT_CONCURRENCY, "concurrency");
    this.blockSize = positive(options.blockSize ?? DEFAULT_BLOCK_SIZE, "blockSize");
    if (this.blockSize % 512 !== 0) throw new RangeError("blockSize must be a multiple of 512");
    this.readAhead = Math.max(0, Math.floor(options.readAhead ?? concurrency));
    this.attempts = positive(options.retry?.attempts ?? 5, "retry.attempts");
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
    this.timeoutMs = positive(options.timeoutMs ?? 60_000, "timeoutMs");
    this.limiter = new Limiter(concurrency);
    const outer = options.signal;
    if (outer) {
      if (outer.aborted) this.controller.abort(outer.reason);
      else
        outer.addEventListener("abort", () => this.controller.abort(outer.reason), { once: true });
    }
  }

  get size(): number {
    return this.properties.size;
  }

  async open(): Promise<void> {
    this.properties = await this.withRetries(async (signal) => {
      const res = await this.fetch("HEAD", undefined, {}, signal);
      if (!res.ok) throw this.statusError(res, "Get Blob Properties");
      const length = Number(res.headers.get("content-length"));
      if (!Number.isSafeInteger(length) || length < 0) {
        throw new BlobSourceError(
          "rejected",
          `${this.uri}: Get Blob Properties gave no Content-Length`,
          { uri: this.uri, status: res.status },
        );
      }
      const type = res.headers.get("x-ms-blob-type");
      const modified = res.headers.get("last-modified");
      return {
        size: length,
        blobType:
          type === "PageBlob" || type === "BlockBlob" || type === "AppendBlob" ? type : undefined,
        etag: res.headers.get("etag") ?? undefined,
        lastModified: modified ? new Date(modified) : undefined,
        contentMd5: res.headers.get("content-md5") ?? undefined,
        contentType: res.headers.get("content-type") ?? undefined,
      };
    });
    const size = this.properties.size;
    this.dataRanges =
      this.properties.blobType === "PageBlob"
        ? await this.pageRanges()
        : size > 0
          ? [[0, size - 1]]
          : [];
    this.dataBytes = this.dataRanges.reduce((n, [a, b]) => n + (b - a + 1), 0);
  }

  async read(offset: number, length: number, options?: { signal?: AbortSignal }) {
    checkRange(this.size, offset, length);
    const out = Buffer.alloc(length);
    await this.readInto(out, offset, options);
    return out;
  }

  async readInto(target: Uint8Array, offset: number, options?: { signal?: AbortSignal }) {
    const length = target.length;
    checkRange(this.size, offset, length);
    options?.signal?.throwIfAborted();
    this.controller.signal.throwIfAborted();
    if (length === 0) return;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const sequential = offset === this.lastEnd;
    this.lastEnd = offset + length;
    if (sequential) {
      for (const index of this.blocks.keys()) if (index < first) this.blocks.delete(index);
    }
    const wanted: Promise<Buffer | undefined>[] = [];
    for (let b = first; b <= last; b++) wanted.push(this.block(b));
    if (sequential) this.prefetch(last + 1);
    this.trim(first, last);
    for (let b = first; b <= last; b++) {
      const data = await abortable(wanted[b - first]!, options?.signal);
      const start = b * bs;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + bs);
      const into = target.subarray(from - offset, to - offset);
      if (data) into.set(data.subarray(from - start, to - start));
      else into.fill(0);
    }
  }

  close(): void {
    if (!this.controller.signal.aborted) {
      this.controller.abort(new Error(`blob source ${this.uri} closed`));
    }
    this.blocks.clear();
  }

  /** The block's bytes (zeros where the blob has none), or undefined for a block of holes. */
  private block(index: number): Promise<Buffer | undefined> {
    let p = this.blocks.get(index);
    if (!p) {
      p = this.fetchBlock(index);
      p.catch(() => this.blocks.get(index) === p && this.blocks.delete(index));
      this.blocks.set(index, p);
    }
    return p;
  }

  /** Starts fetching the next `readAhead` blocks with data from block `from` on. */
  private prefetch(from: number): void {
    let b = from;
    for (let n = 0; n < this.readAhead; n++) {
      const next = this.nextDataBlock(b);
      if (next === undefined) return;
      void this.block(next);
      b = next + 1;
    }
  }

  /** Keeps the cache to what readers use: blocks `[first, last]` and those ahead of them. */
  private trim(first: number, last: number): void {
    const max = this.readAhead + 2 + (last - first);
    if (this.blocks.size <= max) return;
    for (const index of this.blocks.keys()) {
      if (this.blocks.size <= max) break;
      if (index < first || index > last + this.readAhead + 1) this.blocks.delete(index);
    }
  }

  /** The first block at or after `from` that holds data, if any. */
  private nextDataBlock(from: number): number | undefined {
    const at = from * this.blockSize;
    if (at >= this.size) return undefined;
    const ranges = this.dataRanges;
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid]![1] < at) lo = mid + 1;
      else hi = mid;
    }
    const range = ranges[lo];
    return range ? Math.max(from, Math.floor(range[0] / this.blockSize)) : undefined;
  }

  private async fetchBlock(index: number): Promise<Buffer | undefined> {
    const start = index * this.blockSize;
    const end = Math.min(this.size, start + this.blockSize) - 1;
    const first = this.nextDataBlock(index);
    if (first !== index) {
      this.stats.holeBlocks++;
      return undefined;
    }
    // The data ranges meeting [start, end]: fetch from the first data byte to the last.
    let lo = Infinity;
    let hi = -1;
    for (const [a, b] of this.rangesIn(start, end)) {
      lo = Math.min(lo, a);
      hi = Math.max(hi, b);
    }
    const buffer = Buffer.alloc(end - start + 1);
    await this.limiter.run(() =>
      this.getRange(buffer.subarray(lo - start, hi - start + 1), lo, hi),
    );
    this.stats.blocksFetched++;
    return buffer;
  }

  private *rangesIn(start: number, end: number): Generator<ByteRange> {
    for (const [a, b] of this.dataRanges) {
      if (b < start) continue;
      if (a > end) return;
      yield [Math.max(a, start), Math.min(b, end)];
    }
  }

  /** Get Blob of bytes `[lo, hi]` into `target` (exactly `hi - lo + 1` bytes long). */
  private async getRange(target: Buffer, lo: number, hi: number): Promise<void> {
    const range = `bytes=${lo}-${hi}`;
    const etag = this.properties.etag;
    const headers: Record<string, string> = { range, "x-ms-range": range };
    if (etag && !etag.startsWith("W/")) headers["if-match"] = etag;
    await this.withRetries(async (signal) => {
      const res = await this.fetch("GET", undefined, headers, signal);
      if (res.status === 200 && !(lo === 0 && hi === this.size - 1)) {
        await res.body?.cancel();
        throw new BlobSourceError(
          "no-range-support",
          `${this.uri} answered a ranged read with the whole blob: the server does not do ranges`,
          { uri: this.uri, status: 200 },
        );
      }
      if (res.status !== 206 && res.status !== 200) throw this.statusError(res, "Get Blob");
      let filled = 0;
      try {
        for await (const piece of res.body ?? []) {
          const bytes = piece as Uint8Array;
          if (filled + bytes.length > target.length) {
            throw new BlobSourceError(
              "changed",
              `${this.uri}: Get Blob of ${range} sent more than ${target.length} bytes`,
              { uri: this.uri, status: res.status },
            );
          }
          target.set(bytes, filled);
          filled += bytes.length;
        }
      } catch (err) {
        if (err instanceof BlobSourceError) throw err;
        throw this.transportError(err, "Get Blob");
      }
      if (filled !== target.length) {
        throw new Transient(
          new BlobSourceError(
            "unreachable",
            `${this.uri}: Get Blob of ${range} ended after ${filled} of ${target.length} bytes`,
            { uri: this.uri, status: res.status },
          ),
        );
      }
      this.stats.bytesFetched += filled;
    });
  }

  /** Get Page Ranges, every page of the answer, adjacent ranges merged. */
  private async pageRanges(): Promise<ByteRange[]> {
    const ranges: [number, number][] = [];
    let marker: string | undefined;
    const etag = this.properties.etag;
    do {
      const query: Record<string, string> = { comp: "pagelist" };
      if (marker) query.marker = marker;
      const headers: Record<string, string> = {};
      if (etag) headers["if-match"] = etag;
      const xml = await this.withRetries(async (signal) => {
        const res = await this.fetch("GET", query, headers, signal);
        if (!res.ok) throw this.statusError(res, "Get Page Ranges");
        try {
          return await res.text();
        } catch (err) {
          throw this.transportError(err, "Get Page Ranges");
        }
      });
      for (const m of xml.matchAll(
        /<PageRange>\s*<Start>(\d+)<\/Start>\s*<End>(\d+)<\/End>\s*<\/PageRange>/g,
      )) {
        ranges.push([Number(m[1]), Number(m[2])]);
      }
      marker = /<NextMarker>([^<]+)<\/NextMarker>/.exec(xml)?.[1];
    } while (marker);
    ranges.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [a, b] of ranges) {
      const prev = merged.at(-1);
      if (prev && a <= prev[1] + 1) prev[1] = Math.max(prev[1], b);
      else merged.push([a, Math.min(b, this.size - 1)]);
    }
    return merged.filter(([a, b]) => a <= b);
  }

  private async fetch(
    method: "GET" | "HEAD",
    query: Record<string, string> | undefined,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Response> {
    let url = this.blob.url;
    if (query) {
      url = new URL(url);
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    }
    this.stats.requests++;
    try {
      return await fetch(url, {
        method,
        headers: { "x-ms-version": STORAGE_API_VERSION, ...headers },
        signal,
        redirect: "follow",
      });
    } catch (err) {
      throw this.transportError(err, method === "HEAD" ? "Get Blob Properties" : "a request");
    }
  }

  /** Runs `attempt` until it succeeds, fails for good, or the tries are spent. */
  private async withRetries<T>(attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      this.controller.signal.throwIfAborted();
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(this.timeoutMs)]);
      try {
        return await attempt(signal);
      } catch (err) {
        if (this.controller.signal.aborted) throw this.controller.signal.reason;
        if (!(err instanceof Transient)) throw err;
        if (n >= this.attempts) throw err.error;
        this.stats.retries++;
        const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
        await sleep(Math.random() * cap, this.controller.signal);
      }
    }
  }

  /** A failed exchange (connect, TLS, reset, timeout): worth retrying. */
  private transportError(err: unknown, what: string): Transient {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const name = (err as Error).name;
    const why =
      name === "TimeoutError"
        ? `no answer within ${this.timeoutMs} ms`
        : (cause?.code ?? cause?.message ?? (err as Error).message);
    return new Transient(
      new BlobSourceError("unreachable", `${what} of ${this.uri} failed: ${why}`, {
        uri: this.uri,
      }),
    );
  }

  /** The error for an answer that is not a success; transient ones wrapped for a retry. */
  private statusError(res: Response, what: string): BlobSourceError | Transient {
    void res.body?.cancel().catch(() => {});
    const status = res.status;
    const storageCode = res.headers.get("x-ms-error-code") ?? undefined;
    const details = { uri: this.uri, status, storageCode };
    const said = `${what} of ${this.uri}: ${status}${storageCode ? ` ${storageCode}` : ""}`;
    if (RETRYABLE_STATUS.has(status)) {
      return new Transient(new BlobSourceError("server-error", said, details));
    }
    if (status === 404 || status === 410) {
      return new BlobSourceError("not-found", `${said} (no such blob)`, details);
    }
    if (
      status === 401 ||
      status === 403 ||
      (status === 409 && storageCode === "PublicAccessNotPermitted")
    ) {
      const expiry = this.blob.sasExpiry;
      if (expiry && expiry.getTime() <= Date.now()) {
        return new BlobSourceError(
          "sas-expired",
          `${said} (the SAS expired at ${expiry.toISOString()})`,
          details,
        );
      }
      return new BlobSourceError("access-denied", `${said} (access denied)`, details);
    }
    if (status === 412 || status === 416) {
      return new BlobSourceError(
        "changed",
        `${said} (the blob changed while it was read)`,
        details,
      );
    }
    return new BlobSourceError("rejected", said, details);
  }
}

/** At most `limit` tasks at once, the rest queued in order. */
class Limiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
