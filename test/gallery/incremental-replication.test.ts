/**
 * A new version costs what changed, however old the versions before it: replicating v2 after v1
 * neither copies nor touches the chunks they share (their files keep their old times), and
 * garbage collection cannot take those chunks from under the job, because an unfinished job pins
 * its version's content (blobs/gc.ts, rule P).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DiskService } from "../../src/disks/disk-service.js";
import { RegionCatalog } from "../../src/domain/regions.js";
import type { ResourceRecord, Store } from "../../src/domain/resource.js";
import { bufferRandomAccess } from "../../src/formats/random-access.js";
import { LeaseLost, replicate } from "../../src/replication/replicate.js";
import { MIB } from "../../src/formats/vhd.js";
import { openStore } from "../../src/store/open-store.js";
import { createDefinition, downloadDisk, makeVhd, uploadDisk } from "../helpers/disks.js";
import { replicaJob, WORKER } from "../helpers/replicas.js";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.js";

const RG = "incremental-rg";
const GALLERY = "g1";
const IMAGE = "linux";
const HOME = "eastus";
const TWO_DAYS_AGO = new Date(Date.now() - 2 * 24 * 3600 * 1000);

/** Chunk files of a storage location and their modification times. */
function chunkTimes(dataDir: string, location: string): Map<string, number> {
  const dir = join(dataDir, "blobs", location, "chunks");
  const out = new Map<string, number>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(e.name, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return out;
}

describe("replicating a version after another", () => {
  let t: TestServer;
  const v1 = makeVhd(24);
  const v2 = Buffer.from(v1);
  randomBytes(MIB).copy(v2, 10 * MIB); // one new MiB; the rest as in v1

  const publish = (name: string, diskId: string) =>
    t.compute.galleryImageVersions.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, name, {
      location: HOME,
      publishingProfile: { targetRegions: [{ name: HOME }, { name: "westus" }] },
      storageProfile: { osDiskImage: { source: { id: diskId } } },
    });

  before(async () => {
    t = await startTestServer({ gcGraceSeconds: 0 });
    await createDefinition(t, RG, GALLERY, IMAGE, HOME);
  });
  after(async () => t?.close());

  it("neither copies nor touches what v2 shares with a v1 replicated long ago", async () => {
    await publish("1.0.0", await uploadDisk(t, RG, "v1", HOME, v1));
    const v2Disk = await uploadDisk(t, RG, "v2", HOME, v2);
    // As if v1 had been replicated two days ago. (Only now: locations on one file system share
    // their chunks' files, and sealing v2 in eastus refreshed those it shares with v1.)
    const old = chunkTimes(t.dataDir, "westus");
    for (const name of old.keys()) {
      const file = join(t.dataDir, "blobs", "westus", "chunks", name[0]!, name);
      utimesSync(file, TWO_DAYS_AGO, TWO_DAYS_AGO);
    }
    const aged = chunkTimes(t.dataDir, "westus");
    await publish("2.0.0", v2Disk);
    const now = chunkTimes(t.dataDir, "westus");
    const added = [...now.keys()].filter((name) => !old.has(name));
    assert.ok(added.length >= 1 && added.length <= 5, `only what changed: ${added.length} chunks`);
    for (const name of old.keys()) {
      assert.equal(now.get(name), aged.get(name), `shared chunk ${name} untouched`);
    }

    // v1 and both source disks go; garbage collection leaves v2 whole in westus.
    await t.compute.galleryImageVersions.beginDeleteAndWait(RG, GALLERY, IMAGE, "1.0.0");
    await t.compute.disks.beginDeleteAndWait(RG, "v1");
    await t.compute.disks.beginDeleteAndWait(RG, "v2");
    await t.server.collectGarbage();
    await t.compute.disks.beginCreateOrUpdateAndWait(RG, "deployed", {
      location: "westus",
      creationData: {
        createOption: "FromImage",
        galleryImageReference: {
          id: `${(await t.compute.galleryImages.get(RG, GALLERY, IMAGE)).id}/versions/2.0.0`,
        },
      },
    });
    assert.ok((await downloadDisk(t, RG, "deployed")).equals(v2));
  });
});

describe("garbage collection and an unfinished replica job", () => {
  let store: Store;
  const dataDir = tempDir("pins");
  after(async () => store?.close());

  it("keeps the chunks of a version an unfinished job targets, until the job is done", async () => {
    store = await openStore(`sqlite:${join(dataDir, "metadata.db")}`);
    const regions = new RegionCatalog([{ name: "westus" }], { dataDir });
    const disks = new DiskService(store, regions, dataDir);
    const target = disks.chunkStore("westus");
    // A chunk already at the target (as a deleted v1 left it), old, that no row there references;
    // v2's content, in another location, references it.
    const data = randomBytes(4096);
    const hash = await target.putChunk(data);
    const file = join(dataDir, "blobs", "westus", "chunks", hash[0]!, hash);
    utimesSync(file, TWO_DAYS_AGO, TWO_DAYS_AGO);
    const version = "/subscriptions/s/resourcegroups/rg/providers/x/images/i/versions/2.0.0";
    const job = replicaJob(version);
    await store.transaction(async (tx) => {
      await tx.manifests.put({
        resourceKey: `${version}|os`,
        location: "elsewhere",
        manifest: { size: 4096, chunkSize: 4096, chunks: [[0, hash]] },
        digest: null,
        createdAt: new Date().toISOString(),
      });
      await tx.replicas.insert([job]);
    });

    const pinned = await disks.collectGarbage("westus", 0);
    assert.equal(pinned.deleted, 0);
    assert.equal(pinned.referenced, 1, "pinned by the job");
    assert.ok(
      (await target.read({ size: 4096, chunkSize: 4096, chunks: [[0, hash]] }, 0, 4096)).equals(
        data,
      ),
    );

    await store.replicas.update({ ...job, state: "Failed", leaseOwner: null }, WORKER);
    assert.equal(
      (await disks.collectGarbage("westus", 0)).deleted,
      1,
      "garbage once the job ended",
    );
  });
});

describe("a job whose replica was removed while it copied", () => {
  let store: Store;
  const dataDir = tempDir("lease");
  after(async () => store?.close());

  it("records nothing, so no manifest row or chunk outlives the version", async () => {
    store = await openStore(`sqlite:${join(dataDir, "metadata.db")}`);
    const regions = new RegionCatalog([{ name: "eastus" }, { name: "westus" }], { dataDir });
    const disks = new DiskService(store, regions, dataDir);
    const manifest = await disks.chunkStore("eastus").ingest(bufferRandomAccess(randomBytes(MIB)));
    const version: ResourceRecord = {
      key: "/subscriptions/s/resourcegroups/rg/providers/x/images/i/versions/1.0.0",
      location: "eastus",
      parentKey: "/subscriptions/s/resourcegroups/rg/providers/x/images/i",
      properties: {
        _contents: [{ disk: "os", source: { kind: "content", key: "d", target: "t" } }],
      },
    } as unknown as ResourceRecord;
    const job = replicaJob(version.key);
    await store.transaction(async (tx) => {
      await tx.manifests.put({
        resourceKey: `${version.key}|os`,
        location: "eastus",
        manifest,
        digest: manifest.sha256,
        createdAt: new Date().toISOString(),
      });
      await tx.replicas.insert([job]);
    });
    const deps = {
      store,
      chunkStore: (location: string) => disks.chunkStore(location),
      regionOf: (location: string) => location,
    };
    // The copy goes on while the version's deletion removes the replica.
    await store.replicas.delete(version.key);
    await assert.rejects(
      replicate(deps, job, version, new AbortController().signal, () => {}),
      LeaseLost,
    );
    assert.deepEqual(await store.manifests.listLocations(`${version.key}|os`), ["eastus"]);
  });
});
