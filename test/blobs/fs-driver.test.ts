/**
 * `FsBlobDriver` passes the driver contract, and keeps the layout and crash behaviour of
 * docs/designs/image-bytes.md: chunks at chunks/<h0h1>/<h2h3>/<hash>, partial writes only in tmp/.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { runDriverSuite, sha256 } from "./driver-suite.js";

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = mkdtempSync(join(process.env.OCG_TEST_DATA ?? tmpdir(), "blobs-"));
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
  test("lays chunks out as chunks/<h0h1>/<h2h3>/<hash> and leaves tmp/ empty", async () => {
    const root = freshDir();
    const driver = new FsBlobDriver(root);
    const data = Buffer.from("hello chunk");
    const hash = sha256(data);
    await driver.put(hash, data);
    await driver.sync();
    assert.equal(
      relative(root, driver.chunkPath(hash)),
      join("chunks", hash.slice(0, 2), hash.slice(2, 4), hash),
    );
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
    const leaf = join(root, "chunks", hash.slice(0, 2), hash.slice(2, 4));
    await writeFile(join(leaf, "README"), "not a chunk");
    await writeFile(join(leaf, "0".repeat(64)), "misplaced: wrong directory for its name");
    await mkdir(join(root, "chunks", "zz"));
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

  test("adopt links a chunk from a location on the same file system: no bytes copied, born fresh", async () => {
    const source = new FsBlobDriver(freshDir());
    const here = new FsBlobDriver(freshDir());
    const data = randomBytes(70_000);
    const hash = sha256(data);
    await source.put(hash, data);
    await source.sync();
    const old = new Date(Date.now() - 86_400_000);
    await utimes(source.chunkPath(hash), old, old);

    assert.equal(await here.adopt(hash, source), "written");
    await here.sync();
    assert.deepEqual(await here.get(hash), data);
    const [mine, theirs] = await Promise.all([
      stat(here.chunkPath(hash)),
      stat(source.chunkPath(hash)),
    ]);
    assert.equal(mine.ino, theirs.ino, "one file, two names");
    assert.ok(Date.now() - mine.mtimeMs < 60_000, "as fresh as a put: GC spares it");
    assert.equal(await here.adopt(hash, source), "existed");

    // Each location keeps its own name: deleting at the source leaves this one whole.
    assert.equal(await source.delete(hash), true);
    assert.deepEqual(await here.get(hash), data);
    assert.equal(await source.adopt(hash, here), "written");
  });

  test("adopt declines what it can't link, and the caller copies", async () => {
    const here = new FsBlobDriver(freshDir());
    const data = randomBytes(1000);
    const hash = sha256(data);
    const elsewhere = new FsBlobDriver(freshDir());
    assert.equal(await here.adopt(hash, elsewhere), undefined, "missing at the source");
    assert.equal(await here.has(hash), false);

    const notFs = { location: "memory" } as unknown as FsBlobDriver;
    assert.equal(await here.adopt(hash, Object.setPrototypeOf(notFs, {})), undefined);

    // Another file system (tmpfs), where a hard link is EXDEV.
    const shm = "/dev/shm";
    if (existsSync(shm) && (await stat(shm)).dev !== (await stat(here.location)).dev) {
      const root = mkdtempSync(join(shm, "ocg-blobs-"));
      dirs.push(root);
      const other = new FsBlobDriver(root);
      await other.put(hash, data);
      assert.equal(await here.adopt(hash, other), undefined);
      assert.equal(await here.has(hash), false);
    }
  });

  test('durability "none" skips fsync but keeps the same contract', async () => {
    const driver = new FsBlobDriver(freshDir(), { durability: "none" });
    const data = randomBytes(5000);
    assert.equal(await driver.put(sha256(data), data), "written");
    await driver.sync();
    assert.deepEqual(await driver.get(sha256(data)), data);
  });
});
