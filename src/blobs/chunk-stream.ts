/**
 * `ChunkStream`: a range of a manifest's content as a byte stream whose memory is small and
 * bounded however many are open, and `StreamLimits`, the budget all streams of a process share.
 *
 * Invariants:
 * - A chunk is verified (by the `fetch` it is given) before any byte of it is pushed; a failed
 *   fetch destroys the stream with its error, so a reader gets a correct prefix, never wrong bytes.
 * - Pull-based: a chunk is fetched when the reader asks for bytes the stream does not hold, plus
 *   at most one chunk read ahead while the process-wide read-ahead budget allows it. A stream
 *   therefore holds the chunk it is sending and at most one more, and a reader that stops reading
 *   stops the fetching. Without read-ahead budget a stream still advances, fetching on demand.
 * - Bytes are pushed in pieces of at most `PIECE`: what a socket has queued for a slow client is a
 *   piece, not a chunk (TLS encrypts each write whole into a buffer of its own).
 * - `StreamLimits.fetch` runs at most `fetches` fetches at once, first come, first served: buffers
 *   of chunks being read and hashed exist only for those, whatever the number of downloads. A
 *   waiting caller holds no buffer, and leaves the queue when its signal aborts.
 */
import { Readable } from "node:stream";

/** 64 KiB: four TLS records; small next to a chunk, large enough to keep syscalls few. */
export const PIECE = 64 * 1024;

export interface StreamLimitsOptions {
  /** Chunk fetches (read + verify) in flight across all streams. Default 8. */
  fetches?: number;
  /** Chunks read ahead (fetched before their stream needs them) across all streams. Default 16. */
  readAhead?: number;
}

/** The process-wide budget of the download streams: fetches in flight and chunks read ahead. */
export class StreamLimits {
  readonly fetches: number;
  readonly readAhead: number;
  private fetching = 0;
  private readonly waiting: (() => void)[] = [];
  private ahead = 0;

  constructor({ fetches = 8, readAhead = 16 }: StreamLimitsOptions = {}) {
    for (const [name, value] of Object.entries({ fetches, readAhead })) {
      if (!Number.isSafeInteger(value) || value < 0 || (name === "fetches" && value === 0)) {
        throw new RangeError(`${name} must be a non-negative integer (fetches ≥ 1), got ${value}`);
      }
    }
    this.fetches = fetches;
    this.readAhead = readAhead;
  }

  /**
   * Runs `fetch` once a fetch slot is free (first come, first served). A caller whose `signal`
   * aborts while it waits leaves the queue and rejects with the reason.
   */
  async fetch<T>(signal: AbortSignal, fetch: () => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    if (this.fetching < this.fetches) {
      this.fetching++;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener("abort", leave);
          resolve();
        };
        const leave = () => {
          this.waiting.splice(this.waiting.indexOf(grant), 1);
          reject(signal.reason);
        };
        this.waiting.push(grant);
        signal.addEventListener("abort", leave, { once: true });
      });
    }
    try {
      return await fetch();
    } finally {
      // A slot passes straight to the next in line, so the count never dips below the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.fetching--;
    }
  }

  /** Takes one chunk of read-ahead budget if any is left. */
  tryReadAhead(): boolean {
    if (this.ahead >= this.readAhead) return false;
    this.ahead++;
    return true;
  }

  releaseReadAhead(): void {
    this.ahead--;
  }

  /** What is in use now (for tests and diagnostics). */
  usage(): { fetching: number; waiting: number; readAhead: number } {
    return { fetching: this.fetching, waiting: this.waiting.length, readAhead: this.ahead };
  }
}

export interface ChunkStreamPlan {
  /** Content bytes `start`..`end`, both inclusive, within chunks of `chunkSize`. */
  start: number;
  end: number;
  chunkSize: number;
  /**
   * The verified bytes of stored chunk `index` (the whole chunk), read within `limits.fetch`;
   * never written to, so they may be shared with other streams.
   */
  fetch: (index: number, signal: AbortSignal) => Promise<Buffer>;
  /** Whether chunk `index` is stored (else a hole: zeros, never fetched nor read ahead). */
  stored: (index: number) => boolean;
  /** At least `PIECE` zero bytes, never written to: holes are sent from it. */
  zeros: Buffer;
  limits: StreamLimits;
  signal?: AbortSignal;
}

interface Ahead {
  index: number;
  data: Promise<Buffer | undefined>;
}

export class ChunkStream extends Readable {
  private readonly controller = new AbortController();
  /** The next chunk to take into `current`. */
  private next: number;
  private readonly last: number;
  /** The chunk being sent: its bytes (undefined for a hole) and the part of it still to push. */
  private current: { data: Buffer | undefined; at: number; to: number } | undefined;
  private ahead: Ahead | undefined;

  constructor(private readonly plan: ChunkStreamPlan) {
    // highWaterMark 0: `_read` runs only when the consumer wants bytes, so nothing piles up here.
    super({ highWaterMark: 0, signal: plan.signal });
    this.next = Math.floor(plan.start / plan.chunkSize);
    this.last = Math.floor(plan.end / plan.chunkSize);
  }

  override _read(): void {
    const piece = this.piece();
    if (piece) {
      this.push(piece);
    } else if (this.next > this.last) {
      this.push(null);
    } else {
      this.advance().then(
        () => {
          if (!this.destroyed) this.push(this.piece());
        },
        (error: unknown) => this.destroy(error as Error),
      );
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.controller.abort(error ?? new Error("stream destroyed"));
    this.dropAhead();
    this.current = undefined;
    callback(error);
  }

  /** The next piece of the current chunk, or undefined once it is all pushed. */
  private piece(): Buffer | undefined {
    const c = this.current;
    if (!c || c.at >= c.to) return undefined;
    const n = Math.min(PIECE, c.to - c.at);
    const piece = c.data ? c.data.subarray(c.at, c.at + n) : this.plan.zeros.subarray(0, n);
    c.at += n;
    if (c.at >= c.to) this.current = undefined; // let the chunk go as soon as its last piece does
    return piece;
  }

  /** Makes chunk `next` the current one (fetching it unless read ahead), then reads ahead. */
  private async advance(): Promise<void> {
    const index = this.next++;
    let data: Promise<Buffer | undefined>;
    if (this.ahead?.index === index) {
      data = this.ahead.data;
      this.dropAhead();
    } else {
      data = this.fetch(index);
    }
    this.readAhead();
    const bytes = await data;
    const { start, end, chunkSize } = this.plan;
    const chunkStart = index * chunkSize;
    const from = Math.max(start, chunkStart);
    const to = Math.min(end + 1, chunkStart + chunkSize);
    this.current = { data: bytes, at: from - chunkStart, to: to - chunkStart };
  }

  private readAhead(): void {
    const index = this.next;
    if (this.ahead || index > this.last || !this.plan.stored(index)) return;
    if (!this.plan.limits.tryReadAhead()) return;
    const data = this.fetch(index);
    data.catch(() => {}); // observed when its turn comes; this only keeps a dropped one quiet
    this.ahead = { index, data };
  }

  private dropAhead(): void {
    if (!this.ahead) return;
    this.ahead = undefined;
    this.plan.limits.releaseReadAhead();
  }

  private async fetch(index: number): Promise<Buffer | undefined> {
    return this.plan.stored(index) ? this.plan.fetch(index, this.controller.signal) : undefined;
  }
}
