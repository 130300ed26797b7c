/**
 * The upload area of a disk: a sparse file `<root>/<uniqueId>` of the upload's size, where Put Page
 * lands until the upload is sealed, and `<root>/<uniqueId>.ranges.json`, the page ranges written
 * (what Get Page Ranges answers). Nothing here touches the chunk store.
 *
 * Writes to one area are serialized (`exclusive`), so the ranges file always matches the data;
 * callers also run sealing under the same lock so that no write lands mid-seal.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";

/** Inclusive byte ranges `[start, end]`, sorted and disjoint. */
export type Ranges = [number, number][];

export function addRange(ranges: Ranges, start: number, end: number): Ranges {
  const out: Ranges = [];
  let s = start;
  let e = end;
  for (const [a, b] of ranges) {
    if (b + 1 < s || a > e + 1) out.push([a, b]);
    else {
      s = Math.min(s, a);
      e = Math.max(e, b);
    }
  }
  out.push([s, e]);
  return out.sort((x, y) => x[0] - y[0]);
}

export function removeRange(ranges: Ranges, start: number, end: number): Ranges {
  const out: Ranges = [];
  for (const [a, b] of ranges) {
    if (b < start || a > end) out.push([a, b]);
    else {
      if (a < start) out.push([a, start - 1]);
      if (b > end) out.push([end + 1, b]);
    }
  }
  return out;
}

export class UploadAreas {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly root: string) {}

  pathOf(id: string) {
    return join(this.root, id);
  }

  private rangesPath(id: string) {
    return join(this.root, `${id}.ranges.json`);
  }

  /** Runs `work` with the area's lock held (writes and sealing of one area never overlap). */
  exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const before = this.locks.get(id) ?? Promise.resolve();
    const run = before.then(work, work);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }

  /** Creates the area (a sparse file of `size` bytes) unless it exists. */
  async ensure(id: string, size: number): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const handle = await open(this.pathOf(id), "a");
    try {
      const { size: current } = await handle.stat();
      if (current !== size) await handle.truncate(size);
    } finally {
      await handle.close();
    }
  }

  async exists(id: string): Promise<boolean> {
    try {
      await readFile(this.rangesPath(id), "utf8");
      return true;
    } catch {
      try {
        const h = await open(this.pathOf(id), "r");
        await h.close();
        return true;
      } catch {
        return false;
      }
    }
  }

  async ranges(id: string): Promise<Ranges> {
    try {
      return JSON.parse(await readFile(this.rangesPath(id), "utf8")) as Ranges;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
  }

  /** Writes `data` at `offset` (update) or zeros `[offset, offset+length)` (clear). Call under `exclusive`. */
  async write(id: string, offset: number, data: Buffer | { clear: number }): Promise<void> {
    const handle = await open(this.pathOf(id), "r+");
    const length = Buffer.isBuffer(data) ? data.length : data.clear;
    try {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await handle.write(bytes, done, length - done, offset + done);
        done += bytesWritten;
      }
      await handle.datasync();
    } finally {
      await handle.close();
    }
    const before = await this.ranges(id);
    const after = Buffer.isBuffer(data)
      ? addRange(before, offset, offset + length - 1)
      : removeRange(before, offset, offset + length - 1);
    const tmp = `${this.rangesPath(id)}.tmp`;
    await writeFile(tmp, JSON.stringify(after));
    await rename(tmp, this.rangesPath(id));
  }

  stream(id: string, start: number, end: number): Readable {
    return createReadStream(this.pathOf(id), { start, end });
  }

  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
    await rm(this.rangesPath(id), { force: true });
  }
}
