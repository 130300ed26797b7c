/**
 * `FsBlobDriver`: chunks as files in a local directory (one per zone). This is the only file that
 * maps hashes to paths; the layout (docs/designs/image-bytes.md) is:
 *
 * ```
 * <root>/
 * ├── chunks/                                  whole chunks only: a name here is never partial
 * │   └── <h0h1>/                              first byte of the hash (256 directories)
 * │       └── <h2h3>/                          second byte (256 directories each)
 * │           └── <sha256>                     the chunk's bytes, immutable; mtime = last put
 * └── tmp/
 *     ├── <sha256>.<random>.part               a put in progress (or left by a crash)
 *     └── <sha256>.<random>.gc                 a chunk in the middle of a conditional delete
 * ```
 *
 * e.g. the chunk 9f86d081…0a08 lives at `chunks/9f/86/9f86d081…0a08`.
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
 * the disk under them; locations on separate file systems (EXDEV) copy.
 *
 * Conditional delete (`ifOlderThan`): rename the chunk to `tmp/….gc`, then check its mtime. A
 * `touch` (futimes on an open handle) that landed first left a fresh mtime and the file is linked
 * back; a `touch` reports true only if, after its refresh, the name still leads to the inode it
 * refreshed — otherwise the rename may have come first, and it reports false so its writer writes
 * the chunk anew. Either way a refreshed chunk is never lost. A crash mid-delete leaves a `.gc` file, which
 * `removePartial` links back (never deletes): the next collection decides again.
 */
import { randomBytes } from "node:crypto";
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
import type { Stats } from "node:fs";
import { join, resolve } from "node:path";
import {
  assertChunkHash,
  ChunkNotFoundError,
  type BlobDriver,
  type ChunkInfo,
  type IoOptions,
  type PutOutcome,
  type Usage,
} from "./driver.js";
import { isChunkHash, type ChunkHash } from "./manifest.js";

export interface FsBlobDriverOptions {
  /**
   * "fsync" (default): each chunk's bytes are fdatasync'ed before it is linked into place, and
   * `sync` fsyncs the directories. "none": no fsync at all, so a power loss may leave a damaged or
   * missing chunk — only for measurements and throwaway stores.
   */
  durability?: "fsync" | "none";
}

const BYTE_DIR = /^[0-9a-f]{2}$/;

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Node's fs rejects an abort with its own AbortError; the contract says `signal.reason`. */
function rethrowAbortReason(signal: AbortSignal | undefined) {
  return (error: unknown): never => {
    throw signal?.aborted ? signal.reason : error;
  };
}

export class FsBlobDriver implements BlobDriver {
  readonly location: string;
  private readonly chunksDir: string;
  private readonly tmpDir: string;
  private readonly durable: boolean;
  /** Leaf directories known to exist (saves a mkdir per put). */
  private readonly knownDirs = new Set<string>();
  /** Directories whose entries changed since the last `sync`. */
  private dirtyDirs = new Set<string>();
  private rootReady: Promise<void> | undefined;
  /** Locations `adopt` can't hard-link from (another file system): they are copied from. */
  private readonly cannotLinkFrom = new Set<string>();

  constructor(root: string, options: FsBlobDriverOptions = {}) {
    this.location = resolve(root);
    this.chunksDir = join(this.location, "chunks");
    this.tmpDir = join(this.location, "tmp");
    this.durable = (options.durability ?? "fsync") === "fsync";
  }

  /** The file that holds a chunk (whether or not it exists). */
  chunkPath(hash: ChunkHash): string {
    assertChunkHash(hash);
    return join(this.chunksDir, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async has(hash: ChunkHash, { signal }: IoOptions = {}): Promise<boolean> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
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
    let handle;
    try {
      handle = await open(path, "r");
    } catch (error) {
      if (errorCode(error) === "ENOENT") return false;
      throw error;
    }
    try {
      const now = new Date();
      await handle.utimes(now, now);
      // A conditional delete may have renamed the file between our open and our utimes, and
      // checked its age before the refresh landed. Only a file still under its name after the
      // refresh is certain to be seen fresh by any delete that renames it later.
      const [held, named] = await Promise.all([handle.stat(), this.statIfPresent(path)]);
      return named !== undefined && named.ino === held.ino && named.dev === held.dev;
    } finally {
      await handle.close();
    }
  }

  async put(hash: ChunkHash, data: Uint8Array, options: IoOptions = {}): Promise<PutOutcome> {
    const final = this.chunkPath(hash);
    const { signal } = options;
    signal?.throwIfAborted();
    if (await this.touch(hash, options)) return "existed";
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
      const dir = await this.ensureDir(hash);
      const outcome = await this.linkIntoPlace(tmp, final, hash);
      this.dirtyDirs.add(dir);
      return outcome;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async adopt(
    hash: ChunkHash,
    from: BlobDriver,
    options: IoOptions = {},
  ): Promise<PutOutcome | undefined> {
    if (!(from instanceof FsBlobDriver) || this.cannotLinkFrom.has(from.location)) return undefined;
    options.signal?.throwIfAborted();
    if (await this.touch(hash, options)) return "existed";
    // Refreshed at the source first: the name made below shares that inode, so it is born as
    // fresh as a put's, and garbage collection here spares it until its manifest is committed.
    if (!(await from.touch(hash, options))) return undefined;
    await this.ensureRoot();
    const dir = await this.ensureDir(hash);
    const linked = await this.linkFrom(from, hash);
    if (linked === "written") this.dirtyDirs.add(dir);
    return linked;
  }

  private async linkFrom(
    from: FsBlobDriver,
    hash: ChunkHash,
    retried = false,
  ): Promise<PutOutcome | undefined> {
    try {
      await link(from.chunkPath(hash), this.chunkPath(hash));
      return "written";
    } catch (error) {
      const code = errorCode(error);
      if (code === "EEXIST") return "existed";
      if (code === "EXDEV" || code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
        this.cannotLinkFrom.add(from.location);
        return undefined;
      }
      if (code === "EMLINK") return undefined;
      if (code === "ENOENT" && !retried) {
        // Our leaf directory went away since it was cached, or the source's chunk did.
        if (!(await from.has(hash))) return undefined;
        this.knownDirs.clear();
        await this.ensureDir(hash);
        return this.linkFrom(from, hash, true);
      }
      throw error;
    }
  }

  async get(hash: ChunkHash, { signal }: IoOptions = {}): Promise<Buffer> {
    const path = this.chunkPath(hash);
    signal?.throwIfAborted();
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
    for (const first of await this.byteDirs(this.chunksDir)) {
      for (const second of await this.byteDirs(join(this.chunksDir, first))) {
        const dir = join(this.chunksDir, first, second);
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
          if (!isChunkHash(hash) || !hash.startsWith(first + second)) continue;
          let info;
          try {
            info = await lstat(join(dir, hash));
          } catch (error) {
            if (errorCode(error) === "ENOENT") continue; // deleted since the directory was read
            throw error;
          }
          if (!info.isFile()) continue;
          yield { hash, size: info.size, modifiedAt: info.mtime };
        }
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
      let info;
      try {
        info = await lstat(path);
      } catch (error) {
        if (errorCode(error) === "ENOENT") continue;
        throw error;
      }
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

  /** Creates `chunks/<h0h1>/<h2h3>/` if needed; records the parents whose entries changed. */
  private async ensureDir(hash: ChunkHash): Promise<string> {
    const dir = join(this.chunksDir, hash.slice(0, 2), hash.slice(2, 4));
    if (this.knownDirs.has(dir)) return dir;
    const created = await mkdir(dir, { recursive: true });
    if (created) {
      const top = join(this.chunksDir, hash.slice(0, 2));
      this.dirtyDirs.add(top);
      if (created !== dir) this.dirtyDirs.add(this.chunksDir);
    }
    this.knownDirs.add(dir);
    return dir;
  }

  private async linkIntoPlace(tmp: string, final: string, hash: ChunkHash): Promise<PutOutcome> {
    try {
      await link(tmp, final);
      return "written";
    } catch (error) {
      const code = errorCode(error);
      if (code === "EEXIST") return "existed";
      if (code === "ENOENT") {
        // The leaf directory went away since it was cached; make it again, once.
        this.knownDirs.clear();
        await this.ensureDir(hash);
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
        await this.ensureDir(hash);
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

  private async byteDirs(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((name) => BYTE_DIR.test(name)).sort();
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw error;
    }
  }
}
