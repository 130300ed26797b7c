/**
 * Downloads through a disk's Read access URL as clients really read them: slowly, many at once,
 * and from a store with a damaged chunk (the response ends early; every byte sent is right).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { get } from "node:https";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { makeVhd, uploadDisk } from "../helpers/disks.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const RG = "download-rg";
const LOCATION = "eastus";
const CHUNK = 256 * 1024;

/** The one chunk file named `hash` under the server's blobs/. */
function chunkFile(dataDir: string, hash: string): string {
  const root = join(dataDir, "blobs");
  const found = readdirSync(root, { recursive: true, withFileTypes: true }).filter(
    (e) => e.isFile() && e.name === hash,
  );
  assert.equal(found.length, 1, `one chunk file ${hash}`);
  return join(found[0]!.parentPath, found[0]!.name);
}

/** A raw GET: status, the Content-Length announced, the bytes received and how the body ended. */
function rawGet(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; length: number; body: Buffer; complete: boolean }>(
    (resolve, reject) => {
      get(url, { headers }, (res) => {
        const pieces: Buffer[] = [];
        const done = () =>
          resolve({
            status: res.statusCode ?? 0,
            length: Number(res.headers["content-length"]),
            body: Buffer.concat(pieces),
            complete: res.complete,
          });
        res.on("data", (p: Buffer) => pieces.push(p));
        res.on("end", done);
        res.on("error", done); // "aborted": the server cut the response short
      }).on("error", reject);
    },
  );
}

describe("disks: downloads through the access URL", () => {
  let t: TestServer;

  /** A new disk of `vhd` (chunks no download has read yet) and its Read URL. */
  const readable = async (name: string, vhd: Buffer) => {
    await uploadDisk(t, RG, name, LOCATION, vhd);
    const access = await t.compute.disks.beginGrantAccessAndWait(RG, name, {
      access: "Read",
      durationInSeconds: 3600,
    });
    return access.accessSAS!;
  };

  before(async () => {
    t = await startTestServer();
    await t.resources.resourceGroups.createOrUpdate(RG, { location: LOCATION });
  });
  after(async () => t?.close());

  it("gives every one of several slow readers exactly the disk's bytes", async () => {
    const vhd = makeVhd(24);
    const url = await readable("slow", vhd);
    const blob = new PageBlobClient(url, new AnonymousCredential());
    const readSlowly = async (pause: number) => {
      const body = (await blob.download(0)).readableStreamBody!;
      const pieces: Buffer[] = [];
      let unpaused = 0;
      for await (const piece of body) {
        pieces.push(piece as Buffer);
        unpaused += (piece as Buffer).length;
        if (unpaused >= CHUNK) {
          unpaused = 0;
          await sleep(pause);
        }
      }
      return Buffer.concat(pieces);
    };
    const results = await Promise.all([0, 1, 2, 3, 5, 8].map(readSlowly));
    for (const r of results) assert.ok(r.equals(vhd));
  });

  it("ends a download early at a damaged chunk, having sent only right bytes", async () => {
    const vhd = makeVhd(24);
    const url = await readable("damaged", vhd);
    const index = 10; // inside the random region at 2-5 MiB
    const hash = createHash("sha256")
      .update(vhd.subarray(index * CHUNK, (index + 1) * CHUNK))
      .digest("hex");
    const file = chunkFile(t.dataDir, hash);
    const good = await readFile(file);
    const bad = Buffer.from(good);
    bad[100] = bad[100]! ^ 0xff;
    await writeFile(file, bad);
    try {
      const whole = await rawGet(url);
      assert.equal(whole.status, 200);
      assert.equal(whole.length, vhd.length);
      assert.equal(whole.complete, false, "the response is cut short");
      assert.ok(whole.body.length <= index * CHUNK, "no byte of the damaged chunk was sent");
      assert.ok(whole.body.equals(vhd.subarray(0, whole.body.length)));

      // A range that starts in the damaged chunk fails before any byte: Storage's server error.
      const ranged = await rawGet(url, { "x-ms-range": `bytes=${index * CHUNK + 7}-` });
      assert.equal(ranged.status, 500);
      assert.match(ranged.body.toString(), /<Code>InternalError<\/Code>/);
    } finally {
      await writeFile(file, good);
    }
    assert.ok((await rawGet(url)).body.equals(vhd), "whole again once the chunk is repaired");
  });
});
