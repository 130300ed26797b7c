/**
 * The fs driver's calls on chunk names — refresh (lstat, utimes) and hard links — in batches on a
 * small pool of worker threads. Each call is a few microseconds of kernel work: on the event loop
 * it would hold up every request while a replication job makes thousands of them, and through
 * libuv's thread pool each would cost a round trip several times its own price. A batch costs one
 * message each way; two replication jobs use two workers, and both cores.
 *
 * The rules for a refresh and a link (fs-driver.ts explains them) live here once, in the workers'
 * source.
 */
import { Worker } from "node:worker_threads";

/** What linking one chunk came to: see `FsMetadata.adopt`. */
export type LinkOutcome = "written" | "existed" | "absent" | "cross-device";

/**
 * How much older than a refresh a name's mtime may read back and still count as that refresh:
 * file systems with coarse timestamps round it down (FAT keeps two seconds).
 */
const MTIME_SLACK_MS = 2_000;

const SOURCE = `
  const { parentPort } = require("node:worker_threads");
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

  function adopt([name, source, dir], now, freshSince) {
    // The source first: the name made below shares its inode, so it is born as fresh.
    if (!refresh(source, now, freshSince)) return refresh(name, now, freshSince) ? "existed" : "absent";
    // Linked without looking first: callers ask for names they have just found missing.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(source, name);
        return "written";
      } catch (error) {
        const code = error.code;
        // There after all: refreshed, as any reuse is (or gone again under a collection: retry).
        if (code === "EEXIST") {
          if (refresh(name, now, freshSince)) return "existed";
          continue;
        }
        if (code === "EXDEV" || code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
          return "cross-device";
        }
        if (code === "EMLINK") return "absent";
        if (code !== "ENOENT") throw error;
        // The chunk directory went away, or the source's chunk did.
        if (!fs.lstatSync(source, { throwIfNoEntry: false })) return "absent";
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

  parentPort.on("message", ({ id, op, items, now, freshSince }) => {
    try {
      const results =
        op === "refresh"
          ? items.map((path) => refresh(path, now, freshSince))
          : items.map((item) => adopt(item, now, freshSince));
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

export class FsMetadata {
  private readonly members: (Member | undefined)[];
  private nextId = 0;

  constructor(size: number) {
    this.members = new Array<Member | undefined>(size).fill(undefined);
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

  private run(op: string, items: readonly unknown[], options: BatchOptions): Promise<unknown[]> {
    if (items.length === 0) return Promise.resolve([]);
    const member = this.leastBusy();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // A batch in flight keeps the process alive, an idle worker doesn't.
      if (member.pending.size === 0) member.worker.ref();
      member.pending.set(id, { resolve, reject });
      member.worker.postMessage({ id, op, items, ...options });
    });
  }

  private leastBusy(): Member {
    let best: { member: Member; load: number } | undefined;
    for (let i = 0; i < this.members.length; i++) {
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

/** The process's pool: two workers, started on first use. */
export const fsMetadata = new FsMetadata(2);
