/** RandomAccess over memory, files and windows: exact reads, typed errors for every bad range. */
import assert from "node:assert/strict";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  bufferRandomAccess,
  fileRandomAccess,
  ReadRangeError,
  sliceRandomAccess,
} from "../../src/formats/random-access.js";
import { tempDir } from "../helpers/server.js";

const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const isRange = (reason: string) => (e: unknown) =>
  e instanceof ReadRangeError && e.reason === reason && e.format === "read";

test("a buffer source reads exact ranges and hands out copies", async () => {
  const ra = bufferRandomAccess(bytes);
  assert.equal(ra.size, 256);
  assert.deepEqual([...(await ra.read(10, 3))], [10, 11, 12]);
  assert.equal((await ra.read(256, 0)).length, 0);
  const copy = await ra.read(0, 4);
  copy[0] = 99;
  assert.equal((await ra.read(0, 1))[0], 0, "the caller's buffer is its own");
});

test("reads outside the source are typed errors, never RangeError", async () => {
  const ra = bufferRandomAccess(bytes);
  for (const [offset, length] of [
    [250, 7],
    [-1, 1],
    [0, -1],
    [Number.NaN, 1],
    [1.5, 1],
    [0, 2 ** 53],
    [2 ** 60, 1],
  ] as const) {
    await assert.rejects(ra.read(offset, length), isRange("out-of-range"), `${offset}+${length}`);
  }
});

test("a file source reads across its whole size and notices a file that shrank", async () => {
  const path = join(tempDir("ra"), "f.bin");
  writeFileSync(path, bytes);
  const ra = await fileRandomAccess(path);
  try {
    assert.equal(ra.size, 256);
    assert.deepEqual(await ra.read(100, 50), bytes.subarray(100, 150));
    await assert.rejects(ra.read(200, 100), isRange("out-of-range"));
    const aborted = AbortSignal.abort();
    await assert.rejects(ra.read(0, 1, { signal: aborted }), { name: "AbortError" });
    truncateSync(path, 128);
    await assert.rejects(ra.read(100, 50), isRange("short-read"));
  } finally {
    await ra.close();
    await ra.close();
  }
});

test("a window reads its own range of the source and nothing beyond", async () => {
  const ra = sliceRandomAccess(bufferRandomAccess(bytes), 16, 32);
  assert.equal(ra.size, 32);
  assert.deepEqual([...(await ra.read(0, 2))], [16, 17]);
  assert.deepEqual([...(await ra.read(30, 2))], [46, 47]);
  await assert.rejects(ra.read(31, 2), isRange("out-of-range"));
  assert.throws(() => sliceRandomAccess(ra, 16, 17), isRange("out-of-range"));
  assert.throws(() => sliceRandomAccess(ra, -1, 1), isRange("out-of-range"));
});
