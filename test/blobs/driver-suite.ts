/**
 * The `BlobDriver` contract (src/blobs/driver.ts) as one suite every driver must pass, in the
 * manner of distribution's storage-driver testsuites: a driver's test file calls
 * `runDriverSuite(name, makeHarness)`. Hooks a backend cannot offer (backdating a chunk, leaving
 * a partial write behind) skip the tests that need them, with the reason.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { ChunkNotFoundError, type BlobDriver, type ChunkInfo } from "../../src/blobs/driver.js";

export interface DriverHarness {
  driver: BlobDriver;
  /** Sets a stored chunk's `modifiedAt` to `when` (fs: utimes). */
  backdate?(hash: string, when: Date): Promise<void>;
  /** Leaves behind what a put killed mid-write leaves (fs: a `.part` file in tmp/). */
  leavePartial?(hash: string, data: Uint8Array): Promise<void>;
  /** Removes everything the harness created. */
  dispose?(): Promise<void>;
}

export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

function chunk(length = 4096): { hash: string; data: Buffer } {
  const data = randomBytes(length);
  return { hash: sha256(data), data };
}

async function all(driver: BlobDriver, signal?: AbortSignal): Promise<ChunkInfo[]> {
  const out: ChunkInfo[] = [];
  for await (const info of driver.list({ signal })) out.push(info);
  return out.sort((a, b) => a.hash.localeCompare(b.hash));
}

/** Far enough in the future that no partial write is younger: removes every one. */
const future = () => new Date(Date.now() + 3_600_000);

export function runDriverSuite(name: string, makeHarness: () => Promise<DriverHarness>): void {
  describe(`BlobDriver contract: ${name}`, () => {
    const harnesses: DriverHarness[] = [];
    after(async () => {
      for (const h of harnesses) await h.dispose?.();
    });
    async function fresh(): Promise<DriverHarness> {
      const h = await makeHarness();
      harnesses.push(h);
      return h;
    }

    test("an empty location has nothing and says so with typed errors", async () => {
      const { driver } = await fresh();
      const { hash } = chunk();
      assert.equal(await driver.has(hash), false);
      assert.equal(await driver.touch(hash), false);
      await assert.rejects(driver.get(hash), (e: unknown) => {
        assert.ok(e instanceof ChunkNotFoundError);
        assert.equal(e.hash, hash);
        assert.equal(e.location, driver.location);
        return true;
      });
      assert.equal(await driver.delete(hash), false);
      assert.deepEqual(await all(driver), []);
      assert.deepEqual(await driver.usage(), { bytes: 0, count: 0 });
      await driver.sync();
    });

    test("put, get, has, list, usage and delete round-trip", async () => {
      const { driver } = await fresh();
      const a = chunk(10_000);
      const b = chunk(1);
      const before = Date.now();
      assert.equal(await driver.put(a.hash, a.data), "written");
      assert.equal(await driver.put(b.hash, b.data), "written");
      await driver.sync();
      assert.equal(await driver.has(a.hash), true);
      assert.deepEqual(await driver.get(a.hash), a.data);
      assert.deepEqual(await driver.get(b.hash), b.data);
      const listed = await all(driver);
      assert.deepEqual(
        listed.map(({ hash, size }) => ({ hash, size })),
        [a, b]
          .map(({ hash, data }) => ({ hash, size: data.length }))
          .sort((x, y) => x.hash.localeCompare(y.hash)),
      );
      for (const info of listed) {
        // Some backends keep whole seconds.
        assert.ok(info.modifiedAt.getTime() >= before - 1000, "modifiedAt is the put's time");
        assert.ok(info.modifiedAt.getTime() <= Date.now() + 1000);
      }
      assert.deepEqual(await driver.usage(), { bytes: 10_001, count: 2 });
      assert.equal(await driver.delete(a.hash), true);
      assert.equal(await driver.has(a.hash), false);
      assert.equal(await driver.delete(a.hash), false);
      await assert.rejects(driver.get(a.hash), ChunkNotFoundError);
      assert.deepEqual(await driver.usage(), { bytes: 1, count: 1 });
    });

    test("the bytes get returns belong to the caller", async () => {
      const { driver } = await fresh();
      const a = chunk();
      await driver.put(a.hash, a.data);
      const got = await driver.get(a.hash);
      got.fill(0);
      assert.deepEqual(await driver.get(a.hash), a.data);
    });

    test("put is idempotent: a second put reports existed and stores nothing more", async () => {
      const { driver } = await fresh();
      const a = chunk();
      assert.equal(await driver.put(a.hash, a.data), "written");
      assert.equal(await driver.put(a.hash, a.data), "existed");
      assert.deepEqual(await driver.usage(), { bytes: a.data.length, count: 1 });
      assert.deepEqual(await driver.get(a.hash), a.data);
    });

    test("an empty chunk is a chunk like any other", async () => {
      const { driver } = await fresh();
      const empty = Buffer.alloc(0);
      assert.equal(await driver.put(sha256(empty), empty), "written");
      assert.deepEqual(await driver.get(sha256(empty)), empty);
      assert.deepEqual(await driver.usage(), { bytes: 0, count: 1 });
    });

    test("of concurrent puts of one new hash exactly one writes, and no partial is left", async () => {
      const { driver } = await fresh();
      const a = chunk(1 << 20);
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, () => driver.put(a.hash, a.data)),
      );
      assert.equal(outcomes.filter((o) => o === "written").length, 1, outcomes.join());
      assert.deepEqual(await driver.get(a.hash), a.data);
      assert.deepEqual(await driver.usage(), { bytes: a.data.length, count: 1 });
      assert.deepEqual(await driver.removePartial(future()), { bytes: 0, count: 0 });
    });

    test("concurrent puts of many hashes all land", async () => {
      const { driver } = await fresh();
      const chunks = Array.from({ length: 64 }, (_, i) => chunk(100 + i));
      await Promise.all(chunks.map((c) => driver.put(c.hash, c.data)));
      await driver.sync();
      const listed = await all(driver);
      assert.equal(listed.length, 64);
      for (const c of chunks) assert.deepEqual(await driver.get(c.hash), c.data);
    });

    test("a malformed hash is a TypeError before any I/O", async () => {
      const { driver } = await fresh();
      const data = Buffer.from("x");
      for (const bad of ["../../../etc/passwd", "A".repeat(64), "ab", `${"0".repeat(63)}/`]) {
        await assert.rejects(driver.put(bad, data), TypeError);
        await assert.rejects(driver.get(bad), TypeError);
        await assert.rejects(driver.has(bad), TypeError);
        await assert.rejects(driver.touch(bad), TypeError);
        await assert.rejects(driver.delete(bad), TypeError);
      }
      assert.deepEqual(await driver.usage(), { bytes: 0, count: 0 });
    });

    test("touch refreshes modifiedAt of a stored chunk, and only of a stored one", async (t) => {
      const h = await fresh();
      if (!h.backdate) return t.skip("this driver cannot backdate a chunk");
      const { driver } = h;
      const a = chunk();
      await driver.put(a.hash, a.data);
      const old = new Date(Date.now() - 7_200_000);
      await h.backdate(a.hash, old);
      assert.ok((await all(driver))[0]!.modifiedAt.getTime() <= old.getTime() + 1000);
      const before = Date.now();
      assert.equal(await driver.touch(a.hash), true);
      assert.ok((await all(driver))[0]!.modifiedAt.getTime() >= before - 1000);
      // A put of an existing chunk refreshes it the same way.
      await h.backdate(a.hash, old);
      assert.equal(await driver.put(a.hash, a.data), "existed");
      assert.ok((await all(driver))[0]!.modifiedAt.getTime() >= before - 1000);
    });

    test("a conditional delete removes only chunks older than the cutoff", async () => {
      const h = await fresh();
      const { driver } = h;
      const a = chunk();
      await driver.put(a.hash, a.data);
      const minute = 60_000;
      assert.equal(
        await driver.delete(a.hash, { ifOlderThan: new Date(Date.now() - minute) }),
        false,
      );
      assert.deepEqual(await driver.get(a.hash), a.data, "a refused delete leaves the chunk whole");
      assert.deepEqual(await driver.removePartial(future()), { bytes: 0, count: 0 });
      assert.equal(
        await driver.delete(a.hash, { ifOlderThan: new Date(Date.now() + minute) }),
        true,
      );
      assert.equal(await driver.has(a.hash), false);
      assert.equal(
        await driver.delete(a.hash, { ifOlderThan: new Date(Date.now() + minute) }),
        false,
      );
      if (h.backdate) {
        const b = chunk();
        await driver.put(b.hash, b.data);
        await h.backdate(b.hash, new Date(Date.now() - 2 * 3_600_000));
        assert.equal(
          await driver.delete(b.hash, { ifOlderThan: new Date(Date.now() - 3_600_000) }),
          true,
        );
        // …unless it was refreshed first.
        await driver.put(b.hash, b.data);
        await h.backdate(b.hash, new Date(Date.now() - 2 * 3_600_000));
        await driver.touch(b.hash);
        assert.equal(
          await driver.delete(b.hash, { ifOlderThan: new Date(Date.now() - 3_600_000) }),
          false,
        );
        assert.deepEqual(await driver.get(b.hash), b.data);
      }
    });

    test("racing refreshes and conditional deletes never lose a refreshed chunk", async (t) => {
      const h = await fresh();
      if (!h.backdate) return t.skip("this driver cannot backdate a chunk");
      const { driver } = h;
      const chunks = Array.from({ length: 32 }, () => chunk(2048));
      for (let round = 0; round < 3; round++) {
        for (const c of chunks) {
          await driver.put(c.hash, c.data);
          await h.backdate(c.hash, new Date(Date.now() - 7_200_000));
        }
        const cutoff = new Date(Date.now() - 3_600_000);
        // Every chunk is put again (as an ingest reusing it would) while a collector deletes it.
        const [outcomes, deletions] = await Promise.all([
          Promise.all(chunks.map((c) => driver.put(c.hash, c.data))),
          Promise.all(chunks.map((c) => driver.delete(c.hash, { ifOlderThan: cutoff }))),
        ]);
        assert.equal(outcomes.length, deletions.length);
        for (const c of chunks) assert.deepEqual(await driver.get(c.hash), c.data);
        assert.deepEqual(await driver.removePartial(future()), { bytes: 0, count: 0 });
      }
    });

    test("a partial write left by a crash is invisible and removable", async (t) => {
      const h = await fresh();
      if (!h.leavePartial) return t.skip("this driver cannot stage a partial write");
      const { driver } = h;
      const a = chunk(1 << 16);
      await h.leavePartial(a.hash, a.data.subarray(0, 1000));
      assert.equal(await driver.has(a.hash), false);
      await assert.rejects(driver.get(a.hash), ChunkNotFoundError);
      assert.deepEqual(await all(driver), []);
      assert.deepEqual(await driver.usage(), { bytes: 0, count: 0 });
      assert.deepEqual(await driver.removePartial(new Date(Date.now() - 60_000)), {
        bytes: 0,
        count: 0,
      });
      assert.equal(await driver.put(a.hash, a.data), "written");
      assert.deepEqual(await driver.get(a.hash), a.data);
      assert.deepEqual(await driver.removePartial(future()), { bytes: 1000, count: 1 });
      assert.deepEqual(await driver.get(a.hash), a.data);
    });

    test("an aborted signal rejects with its reason and leaves nothing behind", async () => {
      const { driver } = await fresh();
      const a = chunk();
      const reason = new Error("stop");
      const signal = AbortSignal.abort(reason);
      await assert.rejects(driver.put(a.hash, a.data, { signal }), (e) => e === reason);
      await assert.rejects(driver.has(a.hash, { signal }), (e) => e === reason);
      await assert.rejects(driver.get(a.hash, { signal }), (e) => e === reason);
      await assert.rejects(driver.touch(a.hash, { signal }), (e) => e === reason);
      await assert.rejects(driver.delete(a.hash, { signal }), (e) => e === reason);
      await assert.rejects(all(driver, signal), (e) => e === reason);
      await assert.rejects(driver.sync({ signal }), (e) => e === reason);
      assert.equal(await driver.has(a.hash), false);
      await driver.put(a.hash, a.data);
      await assert.rejects(all(driver, signal), (e) => e === reason);
      await assert.rejects(driver.usage({ signal }), (e) => e === reason);
    });

    test("a put aborted mid-way either stores the whole chunk or nothing", async () => {
      const { driver } = await fresh();
      let aborted = 0;
      for (const delayMs of [0, 0, 1, 2, 5, 10, 20, 50]) {
        const a = chunk(32 << 20);
        const controller = new AbortController();
        const reason = new Error(`abort after ${delayMs} ms`);
        const put = driver.put(a.hash, a.data, { signal: controller.signal });
        if (delayMs === 0) controller.abort(reason);
        else setTimeout(() => controller.abort(reason), delayMs);
        try {
          assert.equal(await put, "written");
          assert.deepEqual(await driver.get(a.hash), a.data);
        } catch (error) {
          assert.equal(error, reason);
          aborted++;
          assert.equal(await driver.has(a.hash), false);
        }
        assert.deepEqual(await driver.removePartial(future()), { bytes: 0, count: 0 });
      }
      assert.ok(aborted > 0, "at least the immediate aborts win");
    });
  });
}
