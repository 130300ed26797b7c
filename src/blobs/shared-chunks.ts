/**
 * `SharedChunks`: verified chunk buffers of one storage location, shared by the downloads that
 * read the same chunk at about the same time (many VMs deploying one image), so that such
 * downloads hold and verify a chunk once between them instead of once each.
 *
 * Invariants:
 * - It only hands out what its `load` returned (the caller's verified read) and never keeps a
 *   buffer alive: a finished load is remembered through a `WeakRef`, so a buffer is found again
 *   only while some reader still holds it (or the garbage collector has not yet run). Callers must
 *   never write into a buffer they get.
 * - Concurrent callers for one hash share one load. Each caller's `signal` only detaches that
 *   caller; the load is aborted once no caller is left, and is then forgotten at once, so a later
 *   caller starts afresh rather than joining an aborted load.
 * - A failed load is not remembered: the next caller loads again.
 */
import type { ChunkHash } from "./manifest.js";

interface Pending {
  readonly promise: Promise<Buffer>;
  readonly controller: AbortController;
  users: number;
}

export class SharedChunks {
  private readonly loaded = new Map<ChunkHash, WeakRef<Buffer>>();
  private readonly pending = new Map<ChunkHash, Pending>();
  private readonly forget = new FinalizationRegistry<ChunkHash>((hash) => {
    if (this.loaded.get(hash)?.deref() === undefined) this.loaded.delete(hash);
  });

  /** The chunk `hash`: a buffer someone still holds, a load under way, or a new `load`. */
  get(
    hash: ChunkHash,
    signal: AbortSignal,
    load: (signal: AbortSignal) => Promise<Buffer>,
  ): Promise<Buffer> {
    signal.throwIfAborted();
    const held = this.loaded.get(hash)?.deref();
    if (held) return Promise.resolve(held);
    let p = this.pending.get(hash);
    if (!p) p = this.start(hash, load);
    const shared = p;
    shared.users++;
    return new Promise<Buffer>((resolve, reject) => {
      const leave = () => {
        if (--shared.users === 0) {
          if (this.pending.get(hash) === shared) this.pending.delete(hash);
          shared.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener("abort", leave, { once: true });
      shared.promise.then(
        (data) => {
          signal.removeEventListener("abort", leave);
          resolve(data);
        },
        (error: unknown) => {
          signal.removeEventListener("abort", leave);
          reject(error);
        },
      );
    });
  }

  /** Hashes remembered or being loaded (for tests). */
  get size(): number {
    return new Set([...this.loaded.keys(), ...this.pending.keys()]).size;
  }

  private start(hash: ChunkHash, load: (signal: AbortSignal) => Promise<Buffer>): Pending {
    const controller = new AbortController();
    const promise = load(controller.signal);
    const p: Pending = { promise, controller, users: 0 };
    this.pending.set(hash, p);
    promise.then(
      (data) => {
        if (this.pending.get(hash) !== p) return;
        this.pending.delete(hash);
        this.loaded.set(hash, new WeakRef(data));
        this.forget.register(data, hash);
      },
      () => {
        if (this.pending.get(hash) === p) this.pending.delete(hash);
      },
    );
    return p;
  }
}
