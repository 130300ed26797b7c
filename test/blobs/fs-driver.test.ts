/**
 * `FsBlobDriver` passes the driver contract, and keeps the layout and crash behaviour of
 * docs/designs/image-bytes.md: chunks at chunks/<h0>/<hash>, partial writes only in tmp/.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import {
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { noOtherFileSystem, shmDir } from "../helpers/file-systems.js";
import { runDriverSuite, sha256 } from "./driver-suite.js";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
const dataRoot = process.env.OCG_TEST_DATA ?? tmpdir();
function freshDir(): string {
  const dir = mkdtempSync(join(dataRoot, "blobs-"));
  dirs.push(dir);
  return dir;
}
function otherFsDir(): string {
  const dir = shmDir("ocg-blobs");
  dirs.push(dir);
  return dir;
}

runDriverSuite("FsBlobDriver", async () => {
  const root = freshDir();
  const driver = new FsBlobDriver(root);
  return {
    driver,
    backdate: (hash, when) => utimes(driver.chunkPath(hash), when, when),
    async leavePartial(hash, data) {
      await mkdir(join(root, "tmp"), { recursive: true });
      await writeFile(join(root, "tmp", `${hash}.${randomBytes(8).toString("hex")}.part`), data);
    },
    dispose: () => rm(root, { recursive: true, force: true }),
  };
});

describe("FsBlobDriver on disk", () => {
  test("lays chunks out as chunks/<h0>/<hash> and leaves tmp/ empty", async () => {
    const root = freshDir();
    const driver = new FsBlobDriver(root);
    const data = Buffer.from("hello chunk");
    const hash = sha256(data);
    await driver.put(hash, data);
    await driver.sync();
    assert.equal(relative(root, driver.chunkPath(hash)), join("chunks", hash.slice(0, 1), hash));
    assert.deepEqual(await readFile(driver.chunkPath(hash)), data);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
    assert.equal(driver.location, resolve(root));
  });

  test("stray files in chunks/ are not chunks", async () => {
    const root = freshDir();
    const driver = new FsBlobDriver(root);
    const data = Buffer.from("x");
    const hash = sha256(data);
    await driver.put(hash, data);
    const dir = join(root, "chunks", hash.slice(0, 1));
    await writeFile(join(dir, "README"), "not a chunk");
    const misplaced = (hash.startsWith("0") ? "1" : "0").repeat(64);
    await writeFile(join(dir, misplaced), "misplaced: wrong directory for its name");
    await mkdir(join(root, "chunks", "z"));
    assert.deepEqual(
      (await driver.usage()).count,
      1,
      "only well-named files in their own directory count",
    );
  });

  test("a chunk caught mid conditional-delete by a crash is put back, not lost", async () => {
    const root = freshDir();
    const driver = new FsBlobDriver(root);
    const data = randomBytes(1000);
    const hash = sha256(data);
    await driver.put(hash, data);
    // What a collector killed between its rename and its decision leaves behind.
    await rename(driver.chunkPath(hash), join(root, "tmp", `${hash}.0123456789abcdef.gc`));
    assert.equal(await driver.has(hash), false);
    assert.deepEqual(await driver.removePartial(new Date(Date.now() + 60_000)), {
      bytes: 0,
      count: 0,
    });
    assert.deepEqual(await driver.get(hash), data);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });

  test("a writer killed mid-put leaves no partial chunk under a chunk name", async () => {
    const root = freshDir();
    const size = 128 << 20;
    // The child writes one big chunk (pseudo-random, hashed up front) and is killed while it
    // writes; whatever the timing, the chunk is either absent or whole.
    const script = `
      import { createHash, randomFillSync } from "node:crypto";
      import { FsBlobDriver } from ${JSON.stringify(resolve("src/blobs/fs-driver.ts"))};
      const data = randomFillSync(Buffer.allocUnsafe(${size}));
      const hash = createHash("sha256").update(data).digest("hex");
      process.stdout.write(hash + "\\n");
      await new FsBlobDriver(${JSON.stringify(root)}).put(hash, data);
      process.stdout.write("done\\n");
    `;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const hash = await new Promise<string>((resolveHash, reject) => {
      child.stdout.once("data", (line: Buffer) => resolveHash(line.toString().trim()));
      child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const driver = new FsBlobDriver(root);
    if (await driver.has(hash)) {
      assert.equal(sha256(await driver.get(hash)), hash, "a visible chunk is whole");
    }
    for await (const info of driver.list()) assert.equal(info.size, size);
    const removed = await driver.removePartial(new Date(Date.now() + 60_000));
    assert.ok(removed.count <= 1);
    assert.deepEqual(await readdir(join(root, "tmp")).catch(() => []), []);
  });

  test("adopt links chunks from a location on the same file system: no bytes copied, born fresh", async () => {
    const source = new FsBlobDriver(freshDir());
    const here = new FsBlobDriver(freshDir());
    const chunks = Array.from({ length: 3 }, () => randomBytes(70_000));
    const hashes = chunks.map(sha256);
    for (const data of chunks) await source.put(sha256(data), data);
    await source.sync();
    const old = new Date(Date.now() - 86_400_000);
    for (const hash of hashes) await utimes(source.chunkPath(hash), old, old);
    await here.put(hashes[2]!, chunks[2]!);

    assert.deepEqual(await here.adopt(hashes, source), ["written", "written", "existed"]);
    await here.sync();
    for (const [i, hash] of hashes.entries()) assert.deepEqual(await here.get(hash), chunks[i]);
    const [mine, theirs] = await Promise.all([
      stat(here.chunkPath(hashes[0]!)),
      stat(source.chunkPath(hashes[0]!)),
    ]);
    assert.equal(mine.ino, theirs.ino, "one file, two names");
    assert.ok(Date.now() - mine.mtimeMs < 60_000, "as fresh as a put: GC spares it");
    assert.deepEqual(await here.adopt(hashes.slice(0, 1), source), ["existed"]);

    // Each location keeps its own name: deleting at the source leaves this one whole.
    assert.equal(await source.delete(hashes[0]!), true);
    assert.deepEqual(await here.get(hashes[0]!), chunks[0]);
    assert.deepEqual(await source.adopt(hashes.slice(0, 1), here), ["written"]);
  });

  test("adopt makes a chunk directory again if someone removed it", async () => {
    const source = new FsBlobDriver(freshDir());
    const here = new FsBlobDriver(freshDir());
    const data = randomBytes(500);
    const hash = sha256(data);
    await source.put(hash, data);
    await here.put(hash, data);
    // `here` made the directory and remembers it; it is gone now, with the chunk.
    await rm(join(here.location, "chunks", hash.slice(0, 1)), { recursive: true });
    assert.deepEqual(await here.adopt([hash], source), ["written"]);
    await here.sync();
    assert.deepEqual(await here.get(hash), data);
  });

  test("adopt declines what it can't store, and the caller copies", async () => {
    const here = new FsBlobDriver(freshDir());
    const data = randomBytes(1000);
    const hash = sha256(data);
    const elsewhere = new FsBlobDriver(freshDir());
    assert.deepEqual(await here.adopt([hash], elsewhere), [undefined], "missing at the source");
    assert.equal(await here.has(hash), false);

    const notFs = { location: "memory" } as unknown as FsBlobDriver;
    assert.deepEqual(await here.adopt([hash], Object.setPrototypeOf(notFs, {})), [undefined]);
  });

  test(
    "adopt copies between file systems: verified, written as a put writes, born fresh",
    { skip: noOtherFileSystem(dataRoot) },
    async () => {
      for (const [from, to] of [
        [otherFsDir(), freshDir()],
        [freshDir(), otherFsDir()],
      ] as const) {
        const source = new FsBlobDriver(from);
        const here = new FsBlobDriver(to);
        // More chunks than one message to a worker takes.
        const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i));
        const hashes = chunks.map(sha256);
        for (const [i, data] of chunks.entries()) await source.put(hashes[i]!, data);
        await here.put(hashes[1]!, chunks[1]!);
        const old = new Date(Date.now() - 86_400_000);
        for (const hash of hashes) await utimes(source.chunkPath(hash), old, old);
        await utimes(here.chunkPath(hashes[1]!), old, old);
        const damaged = hashes[2]!;
        const bytes = await readFile(source.chunkPath(damaged));
        bytes[7] = bytes[7]! ^ 0x01;
        await writeFile(source.chunkPath(damaged), bytes);
        const missing = hashes[3]!;
        await unlink(source.chunkPath(missing));

        const before = Date.now();
        // The first asked twice: copied once, found once; the second was here already.
        const outcomes = await here.adopt([hashes[0]!, ...hashes], source);
        assert.deepEqual(outcomes.slice(0, 2).sort(), ["existed", "written"]);
        assert.deepEqual(outcomes.slice(2, 5), ["existed", undefined, undefined]);
        assert.deepEqual(new Set(outcomes.slice(5)), new Set(["written"]));
        await here.sync();
        for (const [i, hash] of hashes.entries()) {
          if (hash === damaged || hash === missing) {
            assert.equal(await here.has(hash), false, "a damaged or missing chunk is not stored");
            continue;
          }
          assert.deepEqual(await here.get(hash), chunks[i]);
          const [mine, theirs] = await Promise.all([
            stat(here.chunkPath(hash)),
            stat(source.chunkPath(hash)),
          ]);
          assert.notEqual(mine.dev, theirs.dev, "a copy on the other file system");
          assert.ok(mine.mtimeMs >= before - 1000, "as fresh as a put: GC spares it");
        }
        assert.deepEqual(await readdir(join(to, "tmp")), [], "no partial write left");

        // Known now to be another file system: the next batch is copied without trying links.
        const more = randomBytes(5000);
        await source.put(sha256(more), more);
        assert.deepEqual(await here.adopt([sha256(more)], source), ["written"]);
        assert.deepEqual(await here.get(sha256(more)), more);
      }
    },
  );

  test(
    "an aborted adopt between file systems stops between chunks and leaves nothing partial",
    { skip: noOtherFileSystem(dataRoot) },
    async () => {
      const source = new FsBlobDriver(otherFsDir());
      const here = new FsBlobDriver(freshDir());
      const chunks = Array.from({ length: 128 }, () => randomBytes(64 * 1024));
      const hashes = chunks.map(sha256);
      for (const [i, data] of chunks.entries()) await source.put(hashes[i]!, data);
      const reason = new Error("lease lost");

      // Aborted before the copying starts: no chunk is copied.
      const early = new AbortController();
      const call = here.adopt(hashes, source, { signal: early.signal });
      early.abort(reason);
      await assert.rejects(call, (e) => e === reason);
      assert.equal((await here.usage()).count, 0);

      // Aborted while the workers copy: whatever the timing, each chunk is whole or absent.
      const late = new AbortController();
      setTimeout(() => late.abort(reason), 2);
      const outcome = await here.adopt(hashes, source, { signal: late.signal }).catch((e) => e);
      if (outcome !== reason) {
        assert.deepEqual(outcome, Array<string>(hashes.length).fill("written"), "or it finished");
      }
      for await (const { hash } of here.list()) {
        assert.deepEqual(await here.get(hash), chunks[hashes.indexOf(hash)]);
      }
      assert.deepEqual(await readdir(join(here.location, "tmp")), [], "no partial write left");
    },
  );

  test("touchMany refreshes what is stale, leaves what is fresh, and reports what is missing", async () => {
    const driver = new FsBlobDriver(freshDir());
    const chunks = Array.from({ length: 3 }, () => randomBytes(100));
    const [stale, fresh, absent] = chunks.map(sha256) as [string, string, string];
    await driver.put(stale, chunks[0]!);
    await driver.put(fresh, chunks[1]!);
    const old = new Date(Date.now() - 7_200_000);
    const recent = new Date(Date.now() - 60_000);
    await utimes(driver.chunkPath(stale), old, old);
    await utimes(driver.chunkPath(fresh), recent, recent);

    const before = Date.now();
    const freshSince = new Date(Date.now() - 600_000);
    assert.deepEqual(await driver.touchMany([stale, fresh, absent], { freshSince }), [
      true,
      true,
      false,
    ]);
    assert.ok((await stat(driver.chunkPath(stale))).mtimeMs >= before - 1000, "refreshed");
    const kept = (await stat(driver.chunkPath(fresh))).mtimeMs;
    assert.ok(Math.abs(kept - recent.getTime()) < 1, "left alone");
    // Without freshSince every stored chunk is refreshed, as touch does.
    assert.deepEqual(await driver.touchMany([fresh]), [true]);
    assert.ok((await stat(driver.chunkPath(fresh))).mtimeMs >= before - 1000);
    assert.equal(await driver.has(absent), false);
  });

  test("a location in the old two-level layout is moved into chunks/<h0>/ on first use", async () => {
    const root = freshDir();
    const chunks = Array.from({ length: 40 }, () => randomBytes(300));
    for (const data of chunks) {
      const hash = sha256(data);
      const leaf = join(root, "chunks", hash.slice(0, 2), hash.slice(2, 4));
      await mkdir(leaf, { recursive: true });
      await writeFile(join(leaf, hash), data);
    }
    // A stray file keeps its directory; the emptied ones go.
    const stray = join(root, "chunks", sha256(chunks[0]!).slice(0, 2), "notes.txt");
    await writeFile(stray, "kept");

    const driver = new FsBlobDriver(root);
    for (const data of chunks) assert.deepEqual(await driver.get(sha256(data)), data);
    assert.equal((await driver.usage()).count, chunks.length);
    const names = await readdir(join(root, "chunks"));
    assert.deepEqual(
      names.filter((n) => n.length === 2),
      [sha256(chunks[0]!).slice(0, 2)],
      "only the directory with the stray file is left of the old layout",
    );
    assert.ok(existsSync(stray));
    for (const data of chunks) {
      const hash = sha256(data);
      assert.ok(existsSync(join(root, "chunks", hash.slice(0, 1), hash)));
    }
    // Another driver on the same location (a restart) finds nothing left to move.
    assert.equal((await new FsBlobDriver(root).usage()).count, chunks.length);
  });

  test('durability "none" skips fsync but keeps the same contract', async () => {
    const driver = new FsBlobDriver(freshDir(), { durability: "none" });
    const data = randomBytes(5000);
    assert.equal(await driver.put(sha256(data), data), "written");
    await driver.sync();
    assert.deepEqual(await driver.get(sha256(data)), data);
  });
});
