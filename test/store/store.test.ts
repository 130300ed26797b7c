/**
 * The metadata store's contract, one body for every dialect: SQLite always, PostgreSQL when
 * OCG_TEST_POSTGRES_URL names a database (CI sets it; each run starts from an empty schema).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import pg from "pg";
import type { ResourceRecord, Store } from "../../src/domain/resource.js";
import { openStore } from "../../src/store/open-store.js";
import { tempDir } from "../helpers/server.js";

const postgresUrl = process.env.OCG_TEST_POSTGRES_URL;

async function freshPostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
  } finally {
    await client.end();
  }
  return url;
}

const DIALECTS: { name: string; open: () => Promise<Store>; skip?: string }[] = [
  { name: "sqlite", open: () => openStore(`sqlite:${join(tempDir("store"), "metadata.db")}`) },
  {
    name: "postgres",
    open: async () => openStore(await freshPostgres(postgresUrl!)),
    skip: postgresUrl
      ? undefined
      : "OCG_TEST_POSTGRES_URL is not set: PostgreSQL dialect not tested in this run",
  },
];

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

for (const dialect of DIALECTS) {
  describe(`store on ${dialect.name}`, { skip: dialect.skip }, () => {
    let store: Store;
    after(() => store?.close());

    test("round-trips records, pages by key and counts by region", async () => {
      store = await dialect.open();
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
  });
}
