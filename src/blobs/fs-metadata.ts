/**
 * The fs driver's calls on chunk files — refresh (lstat, utimes), hard links and, between file
 * systems, copies — in batches on a small pool of worker threads. Each name call is a few
 * microseconds of kernel work: on the event loop it would hold up every request while a
 * replication job makes thousands of them, and through libuv's thread pool each would cost a
 * round trip several times its own price. A copy is about ten such calls per chunk (open, read,
 * close, open, write, fdatasync, close, link, unlink) and a SHA-256, so it goes the same way. A
 * batch costs one message each way (copies: one per few chunks); two replication jobs use two
 * workers, and both cores. Copies keep to two of the three workers, so that the third is free for
 * the name calls a put or a link needs at once.
 *
 * The rules for a refresh, a link and a copy (fs-driver.ts explains them) live here once, in the
 * workers' source.
 */
import { Worker } from "node:worker_threads";

/** What linking one chunk came to: see `FsMetadata.adopt`. */
export type LinkOutcome = "written" | "existed" | "absent" | "cross-device";

/** What copying one chunk came to: see `FsMetadata.copy`. */
export type CopyOutcome = "written" | "existed" | "absent" | "damaged" | "cancelled";

/**
 * Chunks per message of a `copy`, with one message in flight per copying worker. A copy costs
 * ~0.2–0.4 ms a chunk (more with an fdatasync on a disk); slices let one job use both copying
 * workers (700 chunks to tmpfs in 130–150 ms, against 235 in one message) and an abort stop
 * between them. Name operations have a worker of their own, so they never queue behind a slice.
 */
const COPY_SLICE = 4;

/**
 * How much older than a refresh a name's mtime may read back and still count as that refresh:
 * file systems with coarse timestamps round it down (FAT keeps two seconds).
 */
const MTIME_SLACK_MS = 2_000;

const SOURCE = `
  const { parentPort } = require("node:worker_threads");
  const { createHash, randomBytes } = require("node:crypto");
  const fs = require("node:fs");
  const path = require("node:path");

  function refresh(path, now, freshSince) {
    if (freshSince !== undefined) {
      const seen = fs.lstatSync(path, { throwIfNoEntry: false });
      if (!seen || !seen.isFile()) return false;
      if (seen.mtimeMs >= freshSince) return true;
    }
    try {
      const at = new Date(now);
      fs.utimesSync(path, at, at);
    } catch (error) {
      if (error.code === "ENOENT") return false;
      throw error;
    }
    const after = fs.lstatSync(path, { throwIfNoEntry: false });
    return after !== undefined && after.isFile() && after.mtimeMs >= now - ${MTIME_SLACK_MS};
  }

  // Gives \`file\` the chunk name \`name\`: "written", "existed" (refreshed, as any reuse is),
  // "absent" if \`file\` is gone, or the error of a link that can't be made.
  function link(file, name, dir, { now, freshSince }) {
    // Linked without looking first: callers ask for names they have just found missing.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(file, name);
        return "written";
      } catch (error) {
        // There after all (or gone again under a collection: retry).
        if (error.code === "EEXIST") {
          if (refresh(name, now, freshSince)) return "existed";
          continue;
        }
        if (error.code !== "ENOENT") return error;
        // The chunk directory went away, or the file did.
        if (!fs.lstatSync(file, { throwIfNoEntry: false })) return "absent";
        fs.mkdirSync(dir, { recursive: true });
        // Made again (someone removed it): its own name is made durable here, as the caller's
        // sync covers only the chunk directories.
        const parent = fs.openSync(path.dirname(dir), "r");
        try {
          fs.fsyncSync(parent);
        } finally {
          fs.closeSync(parent);
        }
      }
    }
    return "absent";
  }

  function adopt([name, source, dir], batch) {
    const { now, freshSince } = batch;
    // The source first: the name made below shares its inode, so it is born as fresh.
    if (!refresh(source, now, freshSince)) return refresh(name, now, freshSince) ? "existed" : "absent";
    const outcome = link(source, name, dir, batch);
    if (typeof outcome === "string") return outcome;
    const code = outcome.code;
    if (code === "EXDEV" || code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
      return "cross-device";
    }
    if (code === "EMLINK") return "absent";
    throw outcome;
  }

  // One buffer for every chunk this worker reads: no allocation (and collection) per chunk.
  let buffer = Buffer.alloc(0);

  // A file's bytes, in \`buffer\`; undefined if it is missing.
  function readWhole(file) {
    let fd;
    try {
      fd = fs.openSync(file, "r");
    } catch (error) {
      if (error.code === "ENOENT") return undefined;
      throw error;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (buffer.length < size) buffer = Buffer.allocUnsafeSlow(size);
      let length = 0;
      while (length < size) {
        const n = fs.readSync(fd, buffer, length, size - length, length);
        if (n === 0) break;
        length += n;
      }
      return buffer.subarray(0, length);
    } finally {
      fs.closeSync(fd);
    }
  }

  // As the driver's put, from the source's file: temporary file, fdatasync, link into place.
  function copy([name, source, dir], batch) {
    const data = readWhole(source);
    if (!data) return refresh(name, batch.now, batch.freshSince) ? "existed" : "absent";
    // These bytes never pass through ChunkStore, which verifies every other read: a damaged
    // source is refused here, never spread (the caller reads it again, verifying, to report it).
    const hash = path.basename(name);
    if (createHash("sha256").update(data).digest("hex") !== hash) return "damaged";
    const part = path.join(batch.tmp, hash + "." + randomBytes(8).toString("hex") + ".part");
    try {
      const fd = fs.openSync(part, "wx");
      try {
        fs.writeFileSync(fd, data);
        if (batch.durable) fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const outcome = link(part, name, dir, batch);
      if (typeof outcome === "string") return outcome;
      const code = outcome.code;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") {
        throw outcome;
      }
      // A file system without hard links: rename replaces, which is harmless for equal bytes.
      fs.renameSync(part, name);
      return "written";
    } finally {
      fs.rmSync(part, { force: true });
    }
  }

  const ops = {
    refresh: (name, { now, freshSince }) => refresh(name, now, freshSince),
    adopt,
    copy,
  };

  parentPort.on("message", ({ id, op, items, ...batch }) => {
    try {
      const results = items.map((item) => ops[op](item, batch));
      parentPort.postMessage({ id, results });
    } catch (error) {
      parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
    }
  });`;

interface Pending {
  resolve: (results: unknown[]) => void;
  reject: (error: unknown) => void;
}

interface Member {
  worker: Worker;
  pending: Map<number, Pending>;
}

export interface BatchOptions {
  /** The refresh time (ms since the epoch). */
  now: number;
  /** Names modified at or after this (ms since the epoch) are left as they are. */
  freshSince?: number;
}

export interface CopyOptions extends BatchOptions {
  /** The destination's directory for partial writes: a copy is written there first. */
  tmp: string;
  /** Whether a copy's bytes are fdatasync'ed before its name is made. */
  durable: boolean;
  /** Stops the copy between slices: the chunks not sent to a worker come back "cancelled". */
  signal?: AbortSignal;
}

export class FsMetadata {
  private readonly members: (Member | undefined)[];
  private nextId = 0;

  /**
   * `copiers` workers take copies; one more takes only name operations, so that a refresh (a
   * put's first step) never waits behind a slice of copies.
   */
  constructor(private readonly copiers: number) {
    this.members = new Array<Member | undefined>(copiers + 1).fill(undefined);
  }

  /**
   * Per path: leaves the file at least as fresh as `freshSince` (or sets its mtime to `now`), and
   * says whether the name then leads to a fresh file — false if it is missing, or if a conditional
   * delete renamed it between the path lookup and the update.
   */
  refresh(paths: readonly string[], options: BatchOptions): Promise<boolean[]> {
    return this.run("refresh", paths, options) as Promise<boolean[]>;
  }

  /**
   * Per `[name, source, dir]`: "existed" if `name` is there (refreshed), else a hard link to the
   * refreshed `source` ("written"), "absent" if the source is missing (or has too many links),
   * "cross-device" if the two can't share a file (another file system, no hard links).
   */
  adopt(
    items: readonly (readonly [name: string, source: string, dir: string])[],
    options: BatchOptions,
  ): Promise<LinkOutcome[]> {
    return this.run("adopt", items, options) as Promise<LinkOutcome[]>;
  }

  /**
   * Per `[name, source, dir]`: a copy of `source` written as the driver's `put` writes one, once
   * its bytes hash to the chunk's name ("written", or "existed" if `name` turned out to be there:
   * refreshed); "absent" if the source is missing, "damaged" if its bytes don't match its name
   * (nothing is stored then); "cancelled" for those not tried once `signal` aborted. A few chunks
   * per message, one message in flight per worker (`COPY_SLICE`).
   */
  async copy(
    items: readonly (readonly [name: string, source: string, dir: string])[],
    { signal, ...options }: CopyOptions,
  ): Promise<CopyOutcome[]> {
    const slices: (typeof items)[] = [];
    for (let at = 0; at < items.length; at += COPY_SLICE) {
      slices.push(items.slice(at, at + COPY_SLICE));
    }
    const outcomes: CopyOutcome[][] = [];
    let next = 0;
    let failed = false;
    const lane = async () => {
      while (next < slices.length && !failed && !signal?.aborted) {
        const i = next++;
        try {
          outcomes[i] = (await this.run(
            "copy",
            slices[i]!,
            options,
            this.copiers,
          )) as CopyOutcome[];
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const lanes = Array.from({ length: Math.min(this.copiers, slices.length) }, lane);
    // Every lane settles before this does: nothing runs on after a failure.
    for (const lane of await Promise.allSettled(lanes)) {
      if (lane.status === "rejected") throw lane.reason;
    }
    return slices.flatMap((slice, i) => outcomes[i] ?? slice.map(() => "cancelled" as const));
  }

  private run(
    op: string,
    items: readonly unknown[],
    options: BatchOptions,
    among = this.members.length,
  ): Promise<unknown[]> {
    if (items.length === 0) return Promise.resolve([]);
    const member = this.leastBusy(among);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // A batch in flight keeps the process alive, an idle worker doesn't.
      if (member.pending.size === 0) member.worker.ref();
      member.pending.set(id, { resolve, reject });
      member.worker.postMessage({ id, op, items, ...options });
    });
  }

  /** The least busy of the first `among` workers (copies keep to the first `copiers`). */
  private leastBusy(among: number): Member {
    let best: { member: Member; load: number } | undefined;
    for (let i = 0; i < among; i++) {
      const member = (this.members[i] ??= this.start(i));
      const load = member.pending.size;
      if (!best || load < best.load) best = { member, load };
      if (load === 0) break;
    }
    return best!.member;
  }

  private start(slot: number): Member {
    const worker = new Worker(SOURCE, { eval: true });
    const member: Member = { worker, pending: new Map() };
    worker.on(
      "message",
      (m: { id: number; results?: unknown[]; error?: { message: string; code?: string } }) => {
        const pending = member.pending.get(m.id);
        if (!pending) return;
        member.pending.delete(m.id);
        if (member.pending.size === 0) worker.unref();
        if (m.error) {
          pending.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        } else {
          pending.resolve(m.results!);
        }
      },
    );
    const fail = (error: unknown) => {
      if (this.members[slot] === member) this.members[slot] = undefined;
      for (const pending of member.pending.values()) pending.reject(error);
      member.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`fs metadata worker exited with code ${code}`)));
    // Idle until its first batch (unref'd after the listeners: adding one refs the worker again).
    worker.unref();
    return member;
  }
}

/** The process's pool: two workers that copy (both cores) and one that doesn't, started on use. */
export const fsMetadata = new FsMetadata(2);
