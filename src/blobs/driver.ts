/**
 * The port to one storage location of chunks (a zone's directory today, an Azure Blob container
 * with scale-out). A driver stores opaque bytes under a hash; it neither splits, hashes nor
 * verifies — `ChunkStore` does, so that every driver gets the same guarantees — except where
 * bytes move between two of its locations without reaching `ChunkStore` (`adopt`). Every driver
 * passes the one conformance suite in test/blobs/driver-suite.ts.
 *
 * Common rules for every method:
 * - `hash` is 64 lower-case hex digits; anything else throws a `TypeError` before any I/O (it is a
 *   programming error, and it keeps paths and blob names well-formed).
 * - Cancellation: every method takes `{ signal }`. An abort observed before the operation takes
 *   effect rejects with `signal.reason` and leaves the location as it was (no partial chunk, no
 *   leftover temporary). Once an operation has taken effect (a put committed, a delete done) a
 *   later abort is ignored and the result is returned: the caller learns what happened.
 * - Errors are never swallowed: I/O failures propagate (wrapped with `cause` where context helps).
 *   A missing chunk is a `ChunkNotFoundError`, never `undefined`.
 * - `modifiedAt` is the time of the chunk's last put (written or refreshed), which is what garbage
 *   collection's grace period is measured against.
 */
import { isChunkHash, type ChunkHash } from "./manifest.js";

export interface IoOptions {
  signal?: AbortSignal;
}

export interface RefreshOptions extends IoOptions {
  /**
   * A chunk modified at or after this time may be left as it is: it is already as safe from
   * garbage collection as a refresh would make it. Callers pass a time well inside the grace
   * period (gc.ts) and keep refreshing while their work runs.
   */
  freshSince?: Date;
}

/** One stored chunk, as listed. */
export interface ChunkInfo {
  readonly hash: ChunkHash;
  /** Stored length in bytes. */
  readonly size: number;
  /** Time of the last put that wrote or refreshed the chunk. */
  readonly modifiedAt: Date;
}

/** Space a location occupies with chunks (not counting partial writes). */
export interface Usage {
  readonly bytes: number;
  readonly count: number;
}

/** What a put did: stored the bytes, or found the chunk already there (and refreshed it). */
export type PutOutcome = "written" | "existed";

export interface BlobDriver {
  /** Where the chunks live (a path or URL), for messages and logs. */
  readonly location: string;

  /** Whether a chunk is stored. Never changes anything (not even `modifiedAt`). */
  has(hash: ChunkHash, options?: IoOptions): Promise<boolean>;

  /**
   * Sets a stored chunk's `modifiedAt` to now and returns true, or returns false if it is not
   * stored. This is how a writer that reuses an existing chunk keeps garbage collection off it
   * until its manifest is committed (see gc.ts). Atomic with respect to `delete(…, {ifOlderThan})`:
   * a refresh either lands before the delete's age check (the chunk stays) or reports false.
   */
  touch(hash: ChunkHash, options?: IoOptions): Promise<boolean>;

  /**
   * Stores `data` under `hash` unless it is already stored. The caller vouches that `hash` is the
   * SHA-256 of `data`; the driver does not re-hash.
   *
   * - Idempotent: a chunk already stored is refreshed (as `touch`) and reported as "existed"; its
   *   bytes are not rewritten. Of several concurrent puts of one new hash exactly one reports
   *   "written".
   * - Atomic: readers see either no chunk or all of its bytes, even across a crash mid-write
   *   (fs: temporary file, fdatasync, then hard link into place).
   * - Durable after `sync`: the bytes are on stable storage when put resolves, the name once
   *   `sync` has resolved. Commit a manifest only after `sync`.
   * - `data` is not read after the returned promise settles (the caller recycles the buffer).
   */
  put(hash: ChunkHash, data: Uint8Array, options?: IoOptions): Promise<PutOutcome>;

  /**
   * Optional: `touch` of many chunks in one call — the same guarantee and result for each, in
   * order — for drivers where a batch is cheaper than a call per chunk (fs: one synchronous pass).
   * With `freshSince`, a chunk modified at or after that time may be left as it is.
   */
  touchMany?(hashes: readonly ChunkHash[], options?: RefreshOptions): Promise<boolean[]>;

  /**
   * Optional. Stores the chunks `hashes` that `from` holds, more cheaply than a `get` and a `put`
   * each (fs: a hard link within one file system, else a copy file to file on a worker thread):
   * per hash the same outcome, durability and `modifiedAt` rules as `put`, or undefined where it
   * did not (another kind of driver; the chunk missing at `from`, or damaged there) — the caller
   * then fetches that one, verifying, which reports a missing or damaged chunk, and puts it.
   * A shared chunk is the source's own file: no byte of it moves, none is read, and every read of
   * it, under either name, is verified (`ChunkStore`). Copied bytes never reach `ChunkStore`, so
   * the driver stores them only once they hash to their name. An abort stops a batch between
   * chunks and rejects with its reason; the chunks already stored stay.
   */
  adopt?(
    hashes: readonly ChunkHash[],
    from: BlobDriver,
    options?: RefreshOptions,
  ): Promise<(PutOutcome | undefined)[]>;

  /**
   * The stored bytes, as stored: the driver does not verify them (`ChunkStore` does). Rejects with
   * `ChunkNotFoundError` if the chunk is not stored.
   */
  get(hash: ChunkHash, options?: IoOptions): Promise<Buffer>;

  /**
   * Removes a chunk; resolves true if this call removed it, false if it was not stored or (with
   * `ifOlderThan`) was modified at or after that time. The age check and the removal are one
   * atomic step with respect to `put` and `touch`, so a chunk refreshed by a concurrent writer is
   * never removed under it (Azure Blob: a delete with If-Unmodified-Since).
   */
  delete(hash: ChunkHash, options?: IoOptions & { ifOlderThan?: Date }): Promise<boolean>;

  /** Every stored chunk, in no particular order; partial writes are never listed. */
  list(options?: IoOptions): AsyncIterable<ChunkInfo>;

  /** Total bytes and count of stored chunks (the location's occupied size). Walks the listing. */
  usage(options?: IoOptions): Promise<Usage>;

  /** Makes every put that has resolved so far durable (fs: fsync of the directories it touched). */
  sync(options?: IoOptions): Promise<void>;

  /**
   * Removes partial writes older than `olderThan` that crashed writers left behind; returns how
   * many and their bytes. Partial writes of puts still in progress are younger than any sane
   * cutoff and are left alone.
   */
  removePartial(olderThan: Date, options?: IoOptions): Promise<Usage>;
}

/** The chunk is not stored at this location. */
export class ChunkNotFoundError extends Error {
  constructor(
    readonly hash: ChunkHash,
    readonly location: string,
    options?: ErrorOptions,
  ) {
    super(`chunk ${hash} not found in ${location}`, options);
    this.name = "ChunkNotFoundError";
  }
}

/**
 * A stored chunk's bytes do not hash to its address (or have the wrong length): the copy at
 * `location` is damaged. Its bytes are never returned.
 */
export class CorruptChunkError extends Error {
  constructor(
    readonly hash: ChunkHash,
    readonly location: string,
    readonly detail: {
      /** The chunk's index in the manifest being read, when known. */
      index?: number;
      /** SHA-256 of the bytes actually read. */
      actual: string;
      /** Length of the bytes read, and the length the manifest expects. */
      length: number;
      expectedLength?: number;
    },
  ) {
    const at = detail.index === undefined ? "" : ` (chunk #${detail.index})`;
    super(
      `chunk ${hash}${at} in ${location} is corrupt: its ${detail.length} bytes hash to ` +
        `${detail.actual}` +
        (detail.expectedLength !== undefined && detail.expectedLength !== detail.length
          ? `, expected ${detail.expectedLength} bytes`
          : ""),
    );
    this.name = "CorruptChunkError";
  }
}

/** Throws a `TypeError` unless `hash` is a well-formed chunk address. */
export function assertChunkHash(hash: unknown): asserts hash is ChunkHash {
  if (!isChunkHash(hash)) {
    throw new TypeError(`not a chunk hash (64 lower-case hex digits): ${String(hash)}`);
  }
}
