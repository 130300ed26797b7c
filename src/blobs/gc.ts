/**
 * Online garbage collection of one chunk location: removes chunks that no manifest references
 * and that nobody has put for longer than a grace period, while ingests, copies and reads go on.
 *
 * The invariant writers keep (ChunkStore does, callers must commit promptly): every chunk c a
 * manifest M references, committed at time T, satisfies one of
 *   (W) c was put — written, or refreshed by `put`/`touch` — less than `graceMs` before T;
 *   (P) c was referenced, at some time t, by a manifest R recorded at the same location, and from
 *       before t until T a pin held M's content: something the references (step 3) include.
 * ChunkStore keeps (W) for long operations by refreshing what it has put every `keepAliveMs`
 * (a third of the default grace), and returns only after `sync`. (P) is how replication avoids
 * touching what a new version shares with the versions before it: an unfinished replica job pins
 * its version's content (`listReferencedAt`), and it reads the rows it relies on after it exists.
 *
 * One collection:
 *   1. fixes `cutoff = now - graceMs` before anything else;
 *   2. lists the location and keeps as candidates the chunks modified before the cutoff;
 *   3. only then takes the references (`references()` once, or `isReferenced(hash)` per
 *      candidate);
 *   4. deletes each unreferenced candidate with `delete(hash, { ifOlderThan: cutoff })`, whose age
 *      check and removal are one atomic step in the driver.
 *
 * Why nothing referenced is lost: take a manifest M referencing chunk c, committed at time T.
 * If T is before the references were taken (step 3), c is seen as referenced and kept. Otherwise
 * T is after the cutoff was fixed (step 1 precedes step 3), and by (W) c was put at some time
 * P > T - graceMs ≥ cutoff. That put either refreshed the file the delete examines — its
 * modified time is then ≥ P > cutoff and the conditional delete refuses — or found no file and
 * wrote a new one, which is not the one being deleted. A chunk written by an ingest whose manifest
 * is not committed yet is likewise younger than the cutoff. Under (P), if the references were
 * taken while the pin held, c is among them; if before the pin, then R existed when they were
 * taken (c is among them) or was committed after, and c is safe in R's right, by the same
 * argument (commits are finitely many); if after T, M itself is among them. This needs the
 * references to be one snapshot: rows and pins read apart could miss a job that committed
 * between the two reads. The listing itself may be stale; it
 * only proposes candidates, the conditional delete decides.
 *
 * Several collections may run at once (a chunk is deleted at most once). Partial writes left by
 * crashed puts older than the grace period are removed first (`driver.removePartial`).
 */
import type { BlobDriver } from "./driver.js";
import type { ChunkHash } from "./manifest.js";

/** Default grace period: one hour (docs/designs/image-bytes.md). */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

export interface GcOptions {
  /**
   * The referenced chunks, as one snapshot; called once, after the listing. Give this or
   * `isReferenced`.
   */
  references?: (signal: AbortSignal | undefined) => Promise<ReadonlySet<ChunkHash>>;
  /** Whether one chunk is referenced; asked per candidate, after the listing. */
  isReferenced?: (hash: ChunkHash, signal: AbortSignal | undefined) => Promise<boolean>;
  /** Chunks put more recently than this are never removed. Default `DEFAULT_GC_GRACE_MS`. */
  graceMs?: number;
  /** Deletes in flight at once. Default 8. */
  concurrency?: number;
  /** Clock, for tests. */
  now?: () => number;
  signal?: AbortSignal;
}

export interface GcReport {
  /** When chunks had to be last put before to be removable. */
  readonly cutoff: Date;
  /** Chunks listed, and their bytes. */
  readonly scanned: number;
  readonly scannedBytes: number;
  /** Chunks kept because they were put after the cutoff. */
  readonly young: number;
  /** Old chunks kept because a manifest references them. */
  readonly referenced: number;
  /** Old unreferenced chunks a writer refreshed (or removed) between listing and deleting. */
  readonly spared: number;
  /** Chunks removed, and their bytes. */
  readonly deleted: number;
  readonly deletedBytes: number;
  /** Partial writes of crashed puts removed, and their bytes. */
  readonly partials: number;
  readonly partialBytes: number;
}

/**
 * Runs one collection over `driver` (see the module comment for the protocol). Errors are not
 * swallowed: the first failure of a listing, a reference check or a delete aborts the collection
 * and rejects (chunks already deleted stay deleted, which is safe: they were garbage).
 */
export async function collectGarbage(driver: BlobDriver, options: GcOptions): Promise<GcReport> {
  const { references, isReferenced, signal } = options;
  if (!references === !isReferenced) {
    throw new TypeError("collectGarbage needs exactly one of references or isReferenced");
  }
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!(graceMs >= 0)) throw new RangeError(`graceMs must be >= 0, got ${graceMs}`);
  const cutoff = new Date((options.now ?? Date.now)() - graceMs);
  signal?.throwIfAborted();

  const partial = await driver.removePartial(cutoff, { signal });

  let scanned = 0;
  let scannedBytes = 0;
  let young = 0;
  const candidates = new Map<ChunkHash, number>();
  for await (const chunk of driver.list({ signal })) {
    scanned++;
    scannedBytes += chunk.size;
    if (chunk.modifiedAt.getTime() < cutoff.getTime()) candidates.set(chunk.hash, chunk.size);
    else young++;
  }

  const snapshot = references ? await references(signal) : undefined;
  let referenced = 0;
  let spared = 0;
  let deleted = 0;
  let deletedBytes = 0;
  const queue = [...candidates];
  const worker = async () => {
    try {
      for (let next = queue.pop(); next; next = queue.pop()) {
        signal?.throwIfAborted();
        const [hash, size] = next;
        if (snapshot ? snapshot.has(hash) : await isReferenced!(hash, signal)) {
          referenced++;
        } else if (await driver.delete(hash, { ifOlderThan: cutoff, signal })) {
          deleted++;
          deletedBytes += size;
        } else {
          spared++;
        }
      }
    } catch (error) {
      queue.length = 0; // the other workers stop after their current chunk
      throw error;
    }
  };
  const workers = Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker);
  const settled = await Promise.allSettled(workers);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) throw failure.reason;

  return {
    cutoff,
    scanned,
    scannedBytes,
    young,
    referenced,
    spared,
    deleted,
    deletedBytes,
    partials: partial.count,
    partialBytes: partial.bytes,
  };
}
