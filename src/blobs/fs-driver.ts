/**
 * `FsBlobDriver`: chunks as files in a local directory (one per zone). This is the only file that
 * maps hashes to paths; the layout (docs/designs/image-bytes.md) is:
 *
 * ```
 * <root>/
 * ├── chunks/                                  whole chunks only: a name here is never partial
 * │   └── <h0>/                                the hash's first hex digit (16 directories)
 * │       └── <sha256>                         the chunk's bytes, immutable; mtime = last put
 * └── tmp/
 *     ├── <sha256>.<random>.part               a put in progress (or left by a crash)
 *     └── <sha256>.<random>.gc                 a chunk in the middle of a conditional delete
 * ```
 *
 * e.g. the chunk 9f86d081…0a08 lives at `chunks/9/9f86d081…0a08`. Sixteen directories, not a
 * deep fan-out: making new names durable costs one fsync per directory touched, so a `sync` after
 * thousands of puts costs at most sixteen, and ext4's and XFS's hashed directories hold millions
 * of names each. A location written in the old two-level layout (`chunks/<h0h1>/<h2h3>/`) is
 * moved into this one the first time the driver uses it (`upgradeLayout`).
 *
 * Writes: `tmp/….part` is created exclusively, written, fdatasync'ed and closed, then hard-linked
 * to its name under `chunks/` (link never replaces, so of racing writers exactly one wins and the
 * others see EEXIST → "existed"), and the temporary is unlinked. A crash leaves at most a `.part`,
 * which nothing reads and `removePartial` clears. Directory entries are made durable in batches by
 * `sync` (fsync of every directory a put touched), which callers run before committing a manifest.
 *
 * Copies between locations on one file system (`adopt`): the new name is a hard link to the
 * source's file — no bytes written, no fdatasync (the file's bytes are durable already, and chunk
 * files are never modified in place). Such locations then share their chunks' blocks, as they share
 * the disk under them. Between separate file systems (EXDEV, or no hard links) `adopt` copies: the
 * source's file is read, its bytes checked against its name (they never reach `ChunkStore`, which
 * verifies every other read) and written as a put writes them — temporary, fdatasync, link — or,
 * missing or damaged, left to the caller, whose verifying read reports it.
 *
 * Conditional delete (`ifOlderThan`): rename the chunk to `tmp/….gc`, then check its mtime. A
 * refresh (`touch`: utimes on the name) that landed first left a fresh mtime and the file is
 * linked back. A refresh reports true only if, after it, the name leads to a fresh file — had the
 * rename come between its path lookup and its update, the name is gone (or leads to a newer put)
 * and it reports false, so its writer writes the chunk anew. Either way a refreshed chunk is never
 * lost. A crash mid-delete leaves a `.gc` file, which `removePartial` links back (never deletes):
 * the next collection decides again.
 *
 * Refreshes, links and copies (`touch`, `touchMany`, `adopt`, a `put`'s first check) run in
 * batches on worker threads (fs-metadata.ts): each call is a few microseconds of kernel work, far
 * less than a thread-pool round trip, and replication makes thousands per version. The bytes of
 * `get` and `put` go through libuv's thread pool.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, renameSync, rmdirSync, type Stats } from "node:fs";
import {
  link,
  lstat,
  mkdir,
  open,
  opendir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
} from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import {
  assertChunkHash,
  ChunkNotFoundError,
  type BlobDriver,
  type ChunkInfo,
  type IoOptions,
  type PutOutcome,
  type RefreshOptions,
  type Usage,
} from "./driver.js";
import { fsMetadata, type CopyOutcome, type LinkOutcome } from "./fs-metadata.js";
import { isChunkHash, type ChunkHash } from "./manifest.js";

export interface FsBlobDriverOptions {
  /**
   * "fsync" (default): each chunk's bytes are fdatasync'ed before it is linked into place, and
   * `sync` fsyncs the directories. "none": no fsync at all, so a power loss may leave a damaged or
   * missing chunk — only for measurements and throwaway stores.
   */
  durability?: "fsync" | "none";
}

/** The chunk directories: the first hex digit of the hash. */
const HEX_DIR = /^[0-9a-f]$/;
/** A directory of the old two-level layout (`upgradeLayout`). */
const LEGACY_BYTE_DIR = /^[0-9a-f]{2}$/;
function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Node's fs rejects an abort with its own AbortError; the contract says `signal.reason`. */
function rethrowAbortReason(signal: AbortSignal | undefined) {
  return (error: unknown): never => {
    throw signal?.aborted ? signal.reason : error;
  };
}

/** The names in `dir`, or none if it does not exist (a concurrent upgrade may have removed it). */
function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return [];
    throw error;
  }
}

export class FsBlobDriver implements BlobDriver {
  readonly location: string;
  private readonly chunksDir: string;
  private readonly tmpDir: string;
  private readonly durable: boolean;
  /** Chunk directories known to exist (saves a mkdir per put). */
  private readonly knownDirs = new Set<string>();
  /** Directories whose entries changed since the last `sync`. */
  private dirtyDirs = new Set<string>();
  private rootReady: Promise<void> | undefined;
  private layoutReady: Promise<void> | undefined;
  /** Locations `adopt` can't hard-link from (another file system): it copies without trying. */
  private readonly copiesFrom = new Set<string>();

  constructor(root: string, options: FsBlobDriverOptions = {}) {
    this.location = resolve(root);
    this.chunksDir = join(this.location, "chunks");
    this.tmpDir = join(this.location, "tmp");
    this.durable = (options.durability ?? "fsync") === "fsync";
  }

  /** The file that holds a chunk (whether or not it exists). */
  chunkPath(hash: ChunkHash): string {
    assertChunkHash(hash);
    return this.pathOf(hash);
  }

  /** `chunkPath` of a hash already checked (not `join`: it normalizes, and this runs per chunk). */
  private pathOf(hash: ChunkHash): string {
    return `${this.chunksDir}${sep}${hash.charAt(0)}${sep}${hash}`;
  }

  async has(hash: ChunkHash, { signal }: IoOptions = {}): Promise<boolean> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
    await this.layout();
    try {
      return (await stat(path)).isFile();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw error;
    }
  }

  async touch(hash: ChunkHash, { signal }: IoOptions = {}): Promise<boolean> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
    await this.layout();
    const [fresh] = await fsMetadata.refresh([path], { now: Date.now() });
    return fresh!;
  }

  async touchMany(
    hashes: readonly ChunkHash[],
    { signal, freshSince }: RefreshOptions = {},
  ): Promise<boolean[]> {
    const paths = hashes.map((hash) => this.chunkPath(hash));
    signal?.throwIfAborted();
    await this.layout();
    return fsMetadata.refresh(paths, { now: Date.now(), freshSince: freshSince?.getTime() });
  }

  async put(hash: ChunkHash, data: Uint8Array, options: IoOptions = {}): Promise<PutOutcome> {
    const final = this.chunkPath(hash);
    const { signal } = options;
    signal?.throwIfAborted();
    await this.layout();
    const [present] = await fsMetadata.refresh([final], { now: Date.now() });
    if (present) return "existed";
    await this.ensureRoot();
    const tmp = join(this.tmpDir, `${hash}.${randomBytes(8).toString("hex")}.part`);
    try {
      const file = await open(tmp, "wx");
      try {
        await file.writeFile(data, { signal }).catch(rethrowAbortReason(signal));
        if (this.durable) await file.datasync();
      } finally {
        await file.close();
      }
      signal?.throwIfAborted();
      const dir = this.ensureDir(hash);
      const outcome = await this.linkIntoPlace(tmp, final, hash);
      this.dirtyDirs.add(dir);
      return outcome;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async adopt(
    hashes: readonly ChunkHash[],
    from: BlobDriver,
    { signal, freshSince }: RefreshOptions = {},
  ): Promise<(PutOutcome | undefined)[]> {
    const paths = hashes.map((hash) => this.chunkPath(hash));
    signal?.throwIfAborted();
    if (!(from instanceof FsBlobDriver)) return hashes.map(() => undefined);
    await Promise.all([this.layout(), from.layout(), this.ensureRoot()]);
    const dirs = hashes.map((hash) => this.ensureDir(hash));
    const items = hashes.map((hash, i) => [paths[i]!, from.pathOf(hash), dirs[i]!] as const);
    const batch = { now: Date.now(), freshSince: freshSince?.getTime() };
    let outcomes: (LinkOutcome | CopyOutcome)[];
    try {
      outcomes = this.copiesFrom.has(from.location)
        ? items.map(() => "cross-device")
        : await fsMetadata.adopt(items, batch);
      const unlinked = [...outcomes.keys()].filter((i) => outcomes[i] === "cross-device");
      if (unlinked.length) {
        this.copiesFrom.add(from.location);
        const copied = await fsMetadata.copy(
          unlinked.map((i) => items[i]!),
          { ...batch, tmp: this.tmpDir, durable: this.durable, signal },
        );
        for (const [j, i] of unlinked.entries()) outcomes[i] = copied[j]!;
      }
    } catch (error) {
      // Which names were made before the failure is not known: the next sync covers them all.
      for (const dir of dirs) this.dirtyDirs.add(dir);
      throw error;
    }
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome === "written") this.dirtyDirs.add(dirs[i]!);
    }
    // Cancelled between chunks: those stored stay, for garbage collection.
    if (outcomes.includes("cancelled")) throw signal!.reason;
    return outcomes.map((outcome) =>
      outcome === "written" || outcome === "existed" ? outcome : undefined,
    );
  }

  async get(hash: ChunkHash, { signal }: IoOptions = {}): Promise<Buffer> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
    await this.layout();
    try {
      return await readFile(path, { signal }).catch(rethrowAbortReason(signal));
    } catch (error) {
      if (errorCode(error) === "ENOENT") {
        throw new ChunkNotFoundError(hash, this.location, { cause: error });
      }
      throw error;
    }
  }

  async delete(
    hash: ChunkHash,
    { signal, ifOlderThan }: IoOptions & { ifOlderThan?: Date } = {},
  ): Promise<boolean> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
    await this.layout();
    if (!ifOlderThan) return this.unlinkIfPresent(path);
    const trash = join(this.tmpDir, `${hash}.${randomBytes(8).toString("hex")}.gc`);
    await this.ensureRoot();
    try {
      await rename(path, trash);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw error;
    }
    // From here on the step completes whatever the signal says: the chunk goes or comes back.
    let modifiedAt: number;
    try {
      modifiedAt = (await stat(trash)).mtimeMs;
    } catch (error) {
      // removePartial already linked it back.
      if (errorCode(error) === "ENOENT") return false;
      await this.restore(trash, hash);
      throw error;
    }
    if (modifiedAt >= ifOlderThan.getTime()) {
      await this.restore(trash, hash);
      return false;
    }
    return this.unlinkIfPresent(trash);
  }

  async *list({ signal }: IoOptions = {}): AsyncIterable<ChunkInfo> {
    signal?.throwIfAborted();
    await this.layout();
    for (const first of await this.chunkDirs()) {
      const dir = join(this.chunksDir, first);
      let entries;
      try {
        entries = await opendir(dir);
      } catch (error) {
        if (errorCode(error) === "ENOENT") continue;
        throw error;
      }
      for await (const entry of entries) {
        signal?.throwIfAborted();
        const hash = entry.name;
        if (!isChunkHash(hash) || !hash.startsWith(first)) continue;
        const info = await this.statIfPresent(join(dir, hash));
        // Gone since the directory was read, or not a file.
        if (!info?.isFile()) continue;
        yield { hash, size: info.size, modifiedAt: info.mtime };
      }
    }
  }

  async usage(options: IoOptions = {}): Promise<Usage> {
    let bytes = 0;
    let count = 0;
    for await (const chunk of this.list(options)) {
      bytes += chunk.size;
      count++;
    }
    return { bytes, count };
  }

  async sync({ signal }: IoOptions = {}): Promise<void> {
    signal?.throwIfAborted();
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs = new Set();
    if (!this.durable) return;
    const failed: string[] = [];
    let firstError: unknown;
    await Promise.all(
      dirs.map(async (dir) => {
        try {
          const handle = await open(dir, "r");
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        } catch (error) {
          failed.push(dir);
          firstError ??= error;
        }
      }),
    );
    if (failed.length) {
      for (const dir of failed) this.dirtyDirs.add(dir);
      throw new Error(`fsync of ${failed.length} chunk directories in ${this.location} failed`, {
        cause: firstError,
      });
    }
  }

  async removePartial(olderThan: Date, { signal }: IoOptions = {}): Promise<Usage> {
    signal?.throwIfAborted();
    await this.layout();
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return { bytes: 0, count: 0 };
      throw error;
    }
    let bytes = 0;
    let count = 0;
    for (const name of names) {
      signal?.throwIfAborted();
      const [hash, , kind] = name.split(".");
      if (!isChunkHash(hash) || (kind !== "part" && kind !== "gc")) continue;
      const path = join(this.tmpDir, name);
      const info = await this.statIfPresent(path);
      if (!info) continue;
      if (kind === "part" && info.mtimeMs < olderThan.getTime()) {
        if (await this.unlinkIfPresent(path)) {
          bytes += info.size;
          count++;
        }
      } else if (kind === "gc" && info.ctimeMs < olderThan.getTime()) {
        await this.restore(path, hash);
      }
    }
    return { bytes, count };
  }

  private ensureRoot(): Promise<void> {
    this.rootReady ??= (async () => {
      const created = await mkdir(this.chunksDir, { recursive: true });
      await mkdir(this.tmpDir, { recursive: true });
      if (created) this.dirtyDirs.add(this.location);
    })().catch((error: unknown) => {
      this.rootReady = undefined;
      throw error;
    });
    return this.rootReady;
  }

  /** Creates `chunks/<h0>/` if needed (synchronously: once per directory and driver). */
  private ensureDir(hash: ChunkHash): string {
    const dir = `${this.chunksDir}${sep}${hash.charAt(0)}`;
    if (this.knownDirs.has(dir)) return dir;
    if (mkdirSync(dir, { recursive: true }) !== undefined) this.dirtyDirs.add(this.chunksDir);
    this.knownDirs.add(dir);
    return dir;
  }

  /** Runs `upgradeLayout` once, before anything else reads or writes chunk names. */
  private layout(): Promise<void> {
    this.layoutReady ??= this.upgradeLayout().catch((error: unknown) => {
      this.layoutReady = undefined;
      throw error;
    });
    return this.layoutReady;
  }

  /**
   * Moves the chunks of the old layout (`chunks/<h0h1>/<h2h3>/<hash>`) to their names in this one
   * and removes the emptied directories. Safe to repeat after a crash, and alongside another
   * process doing the same (what it moved first is simply gone here).
   */
  private async upgradeLayout(): Promise<void> {
    const legacy = namesIn(this.chunksDir).filter((name) => LEGACY_BYTE_DIR.test(name));
    if (legacy.length === 0) return;
    for (const first of legacy) {
      const top = join(this.chunksDir, first);
      for (const second of namesIn(top).filter((name) => LEGACY_BYTE_DIR.test(name))) {
        const leaf = join(top, second);
        for (const hash of namesIn(leaf)) {
          if (!isChunkHash(hash) || !hash.startsWith(first + second)) continue;
          const dir = this.ensureDir(hash);
          try {
            // Replaces a chunk of the same name, which holds the same bytes.
            renameSync(join(leaf, hash), this.chunkPath(hash));
          } catch (error) {
            if (errorCode(error) !== "ENOENT") throw error;
          }
          this.dirtyDirs.add(dir);
        }
        removeIfEmpty(leaf);
      }
      removeIfEmpty(top);
    }
    this.dirtyDirs.add(this.chunksDir);
    await this.sync();
  }

  private async linkIntoPlace(tmp: string, final: string, hash: ChunkHash): Promise<PutOutcome> {
    try {
      await link(tmp, final);
      return "written";
    } catch (error) {
      const code = errorCode(error);
      if (code === "EEXIST") return "existed";
      if (code === "ENOENT") {
        // The chunk directory went away since it was cached; make it again, once.
        this.knownDirs.clear();
        this.ensureDir(hash);
        return this.linkIntoPlace(tmp, final, hash);
      }
      if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EMLINK") {
        // File systems without hard links: rename replaces, which is harmless for equal bytes.
        await rename(tmp, final);
        return "written";
      }
      throw error;
    }
  }

  /** Links a `.gc` file back to its chunk name (never replacing a newer copy) and unlinks it. */
  private async restore(trash: string, hash: ChunkHash): Promise<void> {
    try {
      await link(trash, this.chunkPath(hash));
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT") {
        // Either the trash is gone (someone else restored it) or the directory is.
        if (!(await this.exists(trash))) return;
        this.ensureDir(hash);
        await link(trash, this.chunkPath(hash));
      } else if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
        // No hard links: put a copy back only where no newer one was written meanwhile.
        if (!(await this.exists(this.chunkPath(hash)))) await rename(trash, this.chunkPath(hash));
      } else if (code !== "EEXIST") {
        throw error;
      }
    }
    await this.unlinkIfPresent(trash);
  }

  private async exists(path: string): Promise<boolean> {
    return (await this.statIfPresent(path)) !== undefined;
  }

  private async statIfPresent(path: string): Promise<Stats | undefined> {
    try {
      return await lstat(path);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw error;
    }
  }

  private async unlinkIfPresent(path: string): Promise<boolean> {
    try {
      await unlink(path);
      return true;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw error;
    }
  }

  private async chunkDirs(): Promise<string[]> {
    try {
      return (await readdir(this.chunksDir)).filter((name) => HEX_DIR.test(name)).sort();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw error;
    }
  }
}

/** Removes an emptied directory of the old layout; one still holding stray files stays. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (error) {
    const code = errorCode(error);
    if (code !== "ENOENT" && code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
  }
}
