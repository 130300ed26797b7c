/**
 * A replica job (`replicate`) over real fs locations and a real SQLite store, the copy crossing
 * file systems (the target on tmpfs): a damaged or missing chunk at the nearest source makes it copy from the next one,
 * and with no healthy source left it fails rather than store wrong bytes.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ChunkStore } from "../../src/blobs/chunk-store.js";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import type { Manifest } from "../../src/blobs/manifest.js";
import type { ResourceRecord, Store } from "../../src/domain/resource.js";
import { bufferRandomAccess } from "../../src/formats/random-access.js";
import { contentKeyOf } from "../../src/gallery/versions.js";
import { replicate, ReplicationFailure } from "../../src/replication/replicate.js";
import { openStore } from "../../src/store/open-store.js";
import { noOtherFileSystem, shmDir } from "../helpers/file-systems.js";
import { replicaJob } from "../helpers/replicas.js";

const CHUNK = 64 * 1024;
const dataRoot = process.env.OCG_TEST_DATA ?? tmpdir();
const dirs: string[] = [];
const metadataStores: Store[] = [];
after(async () => {
  for (const store of metadataStores) await store.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Two source locations in eastus on the test data's file system, the target westus on tmpfs. */
async function setUp() {
  const roots: Record<string, string> = {
    "eastus-1": mkdtempSync(join(dataRoot, "replicate-")),
    "eastus-2": mkdtempSync(join(dataRoot, "replicate-")),
    westus: shmDir("ocg-replicate"),
  };
  dirs.push(...Object.values(roots));
  const stores = new Map(
    Object.entries(roots).map(([location, root]) => [
      location,
      new ChunkStore(new FsBlobDriver(root), { chunkSize: CHUNK }),
    ]),
  );
  const chunkStore = (location: string) => stores.get(location)!;
  const content = Buffer.concat([randomBytes(40 * CHUNK), Buffer.alloc(CHUNK), randomBytes(999)]);
  const manifest = await chunkStore("eastus-1").ingest(bufferRandomAccess(content));
  await chunkStore("eastus-2").ingest(bufferRandomAccess(content));

  const store = await openStore(`sqlite:${join(roots["eastus-1"]!, "metadata.db")}`);
  metadataStores.push(store);
  const key = contentKeyOf("version", "os");
  const job = replicaJob("version");
  await store.transaction(async (tx) => {
    for (const location of ["eastus-1", "eastus-2"]) {
      await tx.manifests.put({
        resourceKey: key,
        location,
        manifest,
        digest: manifest.sha256,
        createdAt: new Date().toISOString(),
      });
    }
    await tx.replicas.insert([job]);
  });
  const locations = () => store.manifests.listLocations(key);
  const deps = { store, chunkStore, regionOf: (location: string) => location.split("-")[0]! };
  const version = {
    key: "version",
    location: "eastus",
    properties: {
      _contents: [
        {
          disk: "os",
          source: { kind: "content", key: "disk", target: "source.id" },
          sha256: manifest.sha256,
        },
      ],
    },
  } as unknown as ResourceRecord;
  const run = () => replicate(deps, job, version, new AbortController().signal, () => {});
  return { manifest, content, chunkStore, locations, run };
}

async function damage(store: ChunkStore, hash: string): Promise<void> {
  const path = (store.driver as FsBlobDriver).chunkPath(hash);
  const bytes = await readFile(path);
  bytes[10] = bytes[10]! ^ 0xff;
  await writeFile(path, bytes);
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const chunkAt = (m: Manifest, index: number) => m.chunks.find(([i]) => i === index)![1];

describe("replicate across file systems", { skip: noOtherFileSystem(dataRoot) }, () => {
  for (const harm of ["damaged", "missing"] as const) {
    test(`a ${harm} chunk at the nearest source: the job copies from the next`, async () => {
      const { manifest, content, chunkStore, locations, run } = await setUp();
      const nearest = chunkStore("eastus-1");
      const hash = chunkAt(manifest, 7);
      if (harm === "damaged") await damage(nearest, hash);
      else await unlink((nearest.driver as FsBlobDriver).chunkPath(hash));

      const tally = await run();
      assert.equal(tally.copied + tally.skipped, manifest.chunks.length);
      assert.ok((await locations()).includes("westus"), "the target's manifest row is written");
      const copy = await chunkStore("westus").read(manifest, 0, manifest.size);
      assert.equal(sha256(copy), sha256(content));
    });
  }

  test("no healthy source left: the job fails, and stores no damaged chunk", async () => {
    const { manifest, chunkStore, locations, run } = await setUp();
    const hash = chunkAt(manifest, 7);
    await damage(chunkStore("eastus-1"), hash);
    await damage(chunkStore("eastus-2"), hash);

    await assert.rejects(run(), (e: unknown) => {
      assert.ok(e instanceof ReplicationFailure, String(e));
      assert.match(e.message, /No healthy copy.*eastus-1.*corrupt.*eastus-2.*corrupt/);
      return true;
    });
    assert.equal(await chunkStore("westus").driver.has(hash), false);
    assert.ok(!(await locations()).includes("westus"));
  });
});
