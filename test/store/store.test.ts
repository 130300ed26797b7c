/**
 * The metadata store's contract, one body for every dialect: SQLite always, PostgreSQL when
 * OCG_TEST_POSTGRES_URL names a database (CI sets it; each run starts from an empty schema).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { ReplicaRecord, ResourceRecord, Store } from "../../src/domain/resource.js";
import { openStore } from "../../src/store/open-store.js";
import { countRows, DATABASES } from "../helpers/databases.js";
import { replicaJob } from "../helpers/replicas.js";

const SUB = "00000000-0000-0000-0000-000000000001";
function record(id: string, over: Partial<ResourceRecord> = {}): ResourceRecord {
  const parts = id.split("/");
  return {
    key: id.toLowerCase(),
    id,
    subscriptionId: SUB,
    resourceGroup: parts[4]!,
    type: "Microsoft.Compute/galleries",
    parentKey: `/subscriptions/${SUB}/resourcegroups/${parts[4]!.toLowerCase()}`,
    name: parts.at(-1)!,
    location: "eastus",
    tags: undefined,
    properties: { description: "d" },
    uniqueKey: null,
    systemData: {
      createdBy: "a",
      createdByType: "Application",
      createdAt: "2026-01-01T00:00:00.000Z",
      lastModifiedBy: "a",
      lastModifiedByType: "Application",
      lastModifiedAt: "2026-01-01T00:00:00.000Z",
    },
    ...over,
  };
}
const gallery = (rg: string, name: string) =>
  `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${name}`;

for (const dialect of DATABASES) {
  describe(`store on ${dialect.name}`, { skip: dialect.skip }, () => {
    let store: Store;
    let url: string;
    after(() => store?.close());

    test("round-trips records, pages by key and counts by region", async () => {
      url = await dialect.url();
      store = await openStore(url);
      for (let i = 0; i < 5; i++) {
        await store.resources.insert(
          record(gallery("RG", `g${i}`), { tags: i === 0 ? {} : { n: String(i) } }),
        );
      }
      await store.resources.insert(record(gallery("other", "x"), { location: "westus" }));
      const got = await store.resources.get(gallery("rg", "G0").toLowerCase());
      assert.equal(got?.id, gallery("RG", "g0"));
      assert.deepEqual(got?.tags, {});
      assert.equal((await store.resources.get(gallery("rg", "g1").toLowerCase()))?.tags?.n, "1");
      const seen: string[] = [];
      let continuation: string | undefined;
      do {
        const page = await store.resources.listByResourceGroup(
          SUB,
          "rg",
          "microsoft.compute/galleries",
          { continuation, limit: 2 },
        );
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((r) => r.name));
        continuation = page.continuation;
      } while (continuation);
      assert.deepEqual(seen, ["g0", "g1", "g2", "g3", "g4"]);
      assert.equal(
        await store.resources.countInRegion(SUB, "Microsoft.Compute/galleries", "eastus"),
        5,
      );
      assert.equal(
        (await store.resources.countsInRegion(SUB, "westus")).get("microsoft.compute/galleries"),
        1,
      );
    });

    test("a failed transaction leaves nothing behind; unique keys hold", async () => {
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.resources.insert(record(gallery("rg", "half"), { uniqueKey: "u1" }));
          throw new Error("boom");
        }),
        /boom/,
      );
      assert.equal(await store.resources.get(gallery("rg", "half").toLowerCase()), undefined);
      await store.resources.insert(record(gallery("rg", "u1"), { uniqueKey: "k" }));
      await assert.rejects(store.resources.insert(record(gallery("rg", "u2"), { uniqueKey: "k" })));
      assert.equal((await store.resources.findByUniqueKey("k"))?.name, "u1");
    });

    test("concurrent transactions stand alone: a failing one leaves nothing, the others commit", async () => {
      // On SQLite these commit as a group (group-commit.ts); that must not show.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          store.transaction(async (tx) => {
            await tx.resources.insert(record(gallery("burst", `b${i}`)));
            // A write on another table too: the savepoint must take both back.
            if (i % 10 === 3) {
              await tx.operations.insert({
                id: `op-${i}`,
                subscriptionId: SUB,
                location: "eastus",
                status: "Succeeded",
                startTime: "2026-01-01T00:00:00.000Z",
                endTime: null,
                error: null,
                resourceKey: null,
              });
              throw new Error(`boom ${i}`);
            }
            // A constraint error half-way: the statement fails, the transaction is taken back.
            if (i % 10 === 7) await tx.resources.insert(record(gallery("burst", `b${i}`)));
            // Each sees its own writes.
            return (await tx.resources.get(gallery("burst", `b${i}`).toLowerCase()))?.name;
          }),
        ),
      );
      for (const [i, o] of outcomes.entries()) {
        const kept = await store.resources.get(gallery("burst", `b${i}`).toLowerCase());
        if (i % 10 === 3 || i % 10 === 7) {
          assert.equal(o.status, "rejected", `b${i}`);
          if (i % 10 === 3) assert.match(String((o as PromiseRejectedResult).reason), /boom/);
          assert.equal(kept, undefined, `b${i} left nothing`);
          if (i % 10 === 3) assert.equal(await store.operations.get(`op-${i}`), undefined);
        } else {
          assert.deepEqual(o, { status: "fulfilled", value: `b${i}` });
          assert.equal(kept?.name, `b${i}`, `b${i} is kept`);
        }
      }
      assert.equal(await store.resources.deleteResourceGroup(SUB, "burst"), 32);
    });

    test("region access grants: idempotent grant, lookup in any casing, list, revoke", async () => {
      const other = "00000000-0000-0000-0000-0000000000AB";
      const at = "2026-02-01T00:00:00.000Z";
      const first = await store.regionAccess.grant({
        region: "australiacentral",
        subscriptionId: SUB,
        grantedAt: at,
        grantedBy: "admin",
      });
      assert.equal(first.created, true);
      assert.deepEqual(first.record, {
        region: "australiacentral",
        subscriptionId: SUB,
        grantedAt: at,
        grantedBy: "admin",
      });
      const again = await store.regionAccess.grant({
        region: "australiacentral",
        subscriptionId: SUB.toUpperCase(),
        grantedAt: "2027-01-01T00:00:00.000Z",
        grantedBy: "someone",
      });
      assert.equal(again.created, false);
      assert.equal(again.record.grantedAt, at, "a second grant keeps the first");
      await store.regionAccess.grant({
        region: "australiacentral",
        subscriptionId: other,
        grantedAt: at,
        grantedBy: "admin",
      });
      await store.regionAccess.grant({
        region: "australiacentral2",
        subscriptionId: SUB,
        grantedAt: at,
        grantedBy: "admin",
      });
      assert.equal(await store.regionAccess.has(SUB.toUpperCase(), "australiacentral"), true);
      assert.equal(await store.regionAccess.has(SUB, "eastus"), false);
      assert.deepEqual(
        (await store.regionAccess.list()).map((g) => [g.region, g.subscriptionId]),
        [
          ["australiacentral", SUB],
          ["australiacentral", other.toLowerCase()],
          ["australiacentral2", SUB],
        ],
      );
      assert.equal((await store.regionAccess.list({ region: "australiacentral" })).length, 2);
      assert.equal((await store.regionAccess.list({ subscriptionId: other })).length, 1);
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.regionAccess.revoke(SUB, "australiacentral");
          throw new Error("boom");
        }),
        /boom/,
      );
      assert.equal(await store.regionAccess.has(SUB, "australiacentral"), true, "rolled back");
      assert.equal(await store.regionAccess.revoke(SUB, "australiacentral"), true);
      assert.equal(await store.regionAccess.revoke(SUB, "australiacentral"), false);
      assert.equal(await store.regionAccess.get(SUB, "australiacentral"), undefined);
    });

    test("deleting a resource group removes all it holds and nothing else", async () => {
      const removed = await store.resources.deleteResourceGroup(SUB, "RG");
      assert.ok(removed >= 5);
      assert.equal(
        (
          await store.resources.listBySubscription(SUB, "Microsoft.Compute/galleries", {
            limit: 100,
          })
        ).items.length,
        1,
      );
    });

    test("copies a manifest row in SQL, and lists where a content is stored", async () => {
      const manifest = {
        size: 1024,
        chunkSize: 512,
        sha256: "ab".repeat(32),
        chunks: [[0, "cd".repeat(32)]],
      };
      await store.manifests.put({
        resourceKey: "src|os",
        location: "eastus-1",
        manifest,
        digest: manifest.sha256,
        createdAt: "2026-01-01T00:00:00.000Z",
      });
      await store.manifests.put({
        resourceKey: "src|os",
        location: "westus",
        manifest,
        digest: manifest.sha256,
        createdAt: "2026-01-01T00:00:00.000Z",
      });
      assert.deepEqual((await store.manifests.listLocations("src|os")).sort(), [
        "eastus-1",
        "westus",
      ]);
      await store.manifests.copy("src|os", "westus", "disk-1", "2026-02-02T00:00:00.000Z");
      // Copying again replaces the row rather than failing on the key.
      await store.manifests.copy("src|os", "westus", "disk-1", "2026-03-03T00:00:00.000Z");
      const copied = await store.manifests.get("disk-1", "westus");
      assert.deepEqual(copied?.manifest, manifest);
      assert.equal(copied?.digest, manifest.sha256);
      assert.equal(copied?.createdAt, "2026-03-03T00:00:00.000Z");
      assert.deepEqual(await store.manifests.listLocations("disk-1"), ["westus"]);
      assert.deepEqual(await store.manifests.listLocations("nothing"), []);
    });

    test("a manifest body is kept once however many rows share it, and goes with its last row", async () => {
      const manifest = (seed: string) => ({
        size: 2048,
        chunkSize: 512,
        sha256: seed.repeat(64),
        chunks: [
          [0, "1".repeat(64)],
          [3, seed.repeat(64)],
        ],
      });
      const row = (resourceKey: string, m: ReturnType<typeof manifest>, location = "eastus-1") => ({
        resourceKey,
        location,
        manifest: m,
        digest: m.sha256,
        createdAt: "2026-01-01T00:00:00.000Z",
      });
      const bodies = () => countRows(url, "manifest_bodies");
      const before = await bodies();
      const image = manifest("a");
      await store.manifests.put(row("version|os", image));
      for (let i = 0; i < 20; i++) {
        await store.transaction((tx) =>
          tx.manifests.copy("version|os", "eastus-1", `disk-${i}`, "2026-02-02T00:00:00.000Z"),
        );
      }
      assert.equal(await bodies(), before + 1);
      // Garbage collection sees the content once, not once per disk.
      const atLocation = await store.manifests.listReferencedAt("eastus-1");
      assert.equal(
        atLocation.filter((m) => (m as { sha256: string }).sha256 === image.sha256).length,
        1,
      );

      // The version goes; the disks deployed from it keep their content.
      await store.manifests.deleteAll("version|os");
      assert.deepEqual((await store.manifests.get("disk-7", "eastus-1"))?.manifest, image);
      assert.equal(await bodies(), before + 1);
      // Rewriting a row with the body it already has keeps that body.
      await store.manifests.put(row("disk-0", image));
      assert.deepEqual((await store.manifests.get("disk-0", "eastus-1"))?.manifest, image);
      // A row rewritten with another body lets go of the old one only when nobody else holds it.
      await store.manifests.put(row("disk-1", manifest("b")));
      assert.equal(await bodies(), before + 2);
      await store.manifests.deleteOne("disk-1", "eastus-1");
      assert.equal(await bodies(), before + 1);
      for (let i = 0; i < 20; i++) await store.manifests.deleteAll(`disk-${i}`);
      assert.equal(await bodies(), before);
      const left = await store.manifests.listReferencedAt("eastus-1");
      assert.ok(left.every((m) => (m as { sha256: string }).sha256 !== image.sha256));

      // A resource group's deletion takes its bodies along.
      const inGroup = `/subscriptions/${SUB}/resourcegroups/gone/providers/microsoft.compute/disks/d`;
      await store.manifests.put(row(inGroup, manifest("c")));
      await store.manifests.put(row(inGroup, manifest("c"), "westus"));
      assert.equal(await bodies(), before + 1);
      assert.equal(
        await store.manifests.deleteByPrefix(`/subscriptions/${SUB}/resourcegroups/gone/`),
        2,
      );
      assert.equal(await bodies(), before);
    });

    test("a digest recorded for a manifest reaches every row holding it, and only those", async () => {
      const undigested = { size: 2048, chunkSize: 1024, chunks: [[1, "f".repeat(64)]] };
      const other = { size: 4096, chunkSize: 1024, chunks: [[1, "f".repeat(64)]] };
      const row = (resourceKey: string, manifest: object) => ({
        resourceKey,
        location: "westus",
        manifest,
        digest: null,
        createdAt: "2026-01-01T00:00:00.000Z",
      });
      const bodies = await countRows(url, "manifest_bodies");
      await store.transaction(async (tx) => {
        await tx.manifests.put(row("grown-disk", undigested));
        await tx.manifests.copy("grown-disk", "westus", "its-snapshot", "2026-01-02T00:00:00.000Z");
        await tx.manifests.copy("grown-disk", "westus", "version|os", "2026-01-03T00:00:00.000Z");
        await tx.manifests.put(row("larger-disk", other));
      });
      const read = (await store.manifests.get("version|os", "westus"))!.manifest;
      const sha256 = "a".repeat(64);
      assert.equal(await store.transaction((tx) => tx.manifests.recordDigest(read, sha256)), 3);
      for (const key of ["grown-disk", "its-snapshot", "version|os"]) {
        const got = await store.manifests.get(key, "westus");
        assert.equal(got?.digest, sha256, key);
        assert.deepEqual(got?.manifest, { ...undigested, sha256 }, key);
      }
      assert.equal((await store.manifests.get("larger-disk", "westus"))?.digest, null);
      assert.equal(await countRows(url, "manifest_bodies"), bodies + 2, "the old body is gone");
      for (const key of ["grown-disk", "its-snapshot", "version|os", "larger-disk"]) {
        await store.manifests.deleteAll(key);
      }
    });

    test("garbage collection's references include the content unfinished jobs pin, in one read", async () => {
      const m = (seed: string) => ({
        size: 1024,
        chunkSize: 512,
        sha256: seed.repeat(64),
        chunks: [[0, seed.repeat(64)]],
      });
      const defn = `/subscriptions/${SUB}/resourcegroups/pins/providers/microsoft.compute/galleries/g/images/i`;
      const v = (name: string) => `${defn}/versions/${name}`;
      const row = (resourceKey: string, body: object, location: string) => ({
        resourceKey,
        location,
        manifest: body,
        digest: null,
        createdAt: "2026-01-01T00:00:00.000Z",
      });
      const job = (version: string, state: ReplicaRecord["state"], locations: string[]) =>
        replicaJob(version, { state, locations, leaseOwner: null, leaseExpiresAt: null });
      // Each version's content is stored in its source location only; each has a job for pin_1.
      const states: [string, ReplicaRecord["state"], string[]][] = [
        ["1.0.0", "Pending", ["pin_1"]],
        ["2.0.0", "Replicating", ["pin_1", "pin-2"]],
        ["3.0.0", "Completed", ["pin_1"]],
        ["4.0.0", "Failed", ["pin_1"]],
        // `_` is a LIKE wildcard: a job for pinX1 must not pin anything at pin_1.
        ["5.0.0", "Pending", ["pinX1"]],
      ];
      await store.transaction(async (tx) => {
        for (const [name, state, locations] of states) {
          await tx.manifests.put(row(`${v(name)}|os`, m(name[0]!), "source"));
          await tx.replicas.insert([job(v(name), state, locations)]);
        }
        await tx.manifests.put(row(`${v("1.0.0")}|lun:0`, m("d"), "source"));
        await tx.manifests.put(row(`${v("9.0.0")}|os`, m("9"), "pin_1"));
        await tx.manifests.put(row("/elsewhere|os", m("e"), "pin_1"));
      });
      const digests = async (location: string) =>
        (await store.manifests.listReferencedAt(location))
          .map((x) => (x as { sha256: string }).sha256[0])
          .sort();
      assert.deepEqual(await digests("pin_1"), ["1", "2", "9", "d", "e"]);
      assert.deepEqual(await digests("pin-2"), ["2"]);
      assert.deepEqual(await digests("pinX1"), ["5"]);

      const under = await store.manifests.listManifestsUnder("pin_1", `${defn}/`);
      assert.deepEqual(
        under.map((x) => (x as { sha256: string }).sha256[0]),
        ["9"],
        "rows at the location under the prefix only",
      );
      await store.replicas.deleteByPrefix(`${defn}/`);
      await store.manifests.deleteByPrefix(`${defn}/`);
      await store.manifests.deleteAll("/elsewhere|os");
    });
  });
}
