/**
 * Upgrading a data dir: a database left by an older release is migrated when the store opens,
 * and what it held reads back the same. One body for every dialect (see helpers/databases.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "kysely";
import { migrateUpTo } from "../../src/store/migrations.js";
import { openDatabase, openStore } from "../../src/store/open-store.js";
import { countRows, DATABASES } from "../helpers/databases.js";

const manifest = (seed: string) => ({
  size: 4096,
  chunkSize: 1024,
  sha256: seed.repeat(64),
  chunks: [
    [1, seed.repeat(64)],
    [2, "e".repeat(64)],
  ],
});

for (const dialect of DATABASES) {
  describe(`upgrades on ${dialect.name}`, { skip: dialect.skip }, () => {
    test("0006: manifest rows of a data dir from before it keep their manifests, each text stored once", async () => {
      const url = await dialect.url();
      const { db } = await openDatabase(url);
      const rows = [
        // A version's content in two locations and a disk deployed from it: one text three times.
        ["v|os", "eastus-1", manifest("a")],
        ["v|os", "westus", manifest("a")],
        ["disk-1", "eastus-1", manifest("a")],
        ["disk-2", "eastus-2", manifest("b")],
        // More than the migration reads at once.
        ...Array.from({ length: 250 }, (_, i) => [`many-${i}`, "westus", manifest("a")] as const),
      ] as const;
      try {
        await migrateUpTo(db as never, "0005-operation-resource");
        for (const [key, location, m] of rows) {
          await sql`insert into manifests (resource_key, location, manifest, digest, created_at)
            values (${key}, ${location}, ${JSON.stringify(m)}, ${m.sha256}, ${"2026-01-01T00:00:00.000Z"})`.execute(
            db,
          );
        }
      } finally {
        await db.destroy();
      }

      const store = await openStore(url);
      try {
        for (const [key, location, m] of rows) {
          const got = await store.manifests.get(key, location);
          assert.deepEqual(got?.manifest, m, `${key} at ${location}`);
          assert.equal(got?.digest, m.sha256);
          assert.equal(got?.createdAt, "2026-01-01T00:00:00.000Z");
        }
        assert.equal(await countRows(url, "manifests"), rows.length);
        assert.equal(await countRows(url, "manifest_bodies"), 2);
        // Garbage collection still sees every chunk the old rows referenced.
        assert.deepEqual(await store.manifests.listReferencedAt("eastus-1"), [manifest("a")]);
        assert.deepEqual(await store.manifests.listReferencedAt("eastus-2"), [manifest("b")]);
        // The migrated rows behave as new ones: shared until the last holder goes.
        await store.manifests.deleteAll("v|os");
        assert.deepEqual(
          (await store.manifests.get("disk-1", "eastus-1"))?.manifest,
          manifest("a"),
        );
        await store.manifests.deleteAll("disk-1");
        assert.equal(await countRows(url, "manifest_bodies"), 2);
        assert.equal(await store.manifests.deleteByPrefix("many-"), 250);
        assert.equal(await countRows(url, "manifest_bodies"), 1);
      } finally {
        await store.close();
      }
    });

    test("0007: rows keep their digests, and content without one can be recorded", async () => {
      const url = await dialect.url();
      const { db } = await openDatabase(url);
      const body = JSON.stringify(manifest("c"));
      try {
        await migrateUpTo(db as never, "0006-manifest-bodies");
        await sql`insert into manifest_bodies (id, body) values (${"body-c"}, ${body})`.execute(db);
        await sql`insert into manifests (resource_key, location, body_id, digest, created_at)
          values (${"disk-c"}, ${"westus"}, ${"body-c"}, ${"c".repeat(64)}, ${"2026-01-01T00:00:00.000Z"})`.execute(
          db,
        );
      } finally {
        await db.destroy();
      }

      const store = await openStore(url);
      try {
        const kept = await store.manifests.get("disk-c", "westus");
        assert.deepEqual(kept?.manifest, manifest("c"));
        assert.equal(kept?.digest, "c".repeat(64));
        const { sha256: _, ...undigested } = manifest("d");
        await store.transaction(async (tx) => {
          await tx.manifests.put({
            resourceKey: "grown",
            location: "westus",
            manifest: undigested,
            digest: null,
            createdAt: "2026-01-02T00:00:00.000Z",
          });
        });
        assert.equal((await store.manifests.get("grown", "westus"))?.digest, null);
        // The rebuilt table keeps its indexes' work: by location, and bodies shared then freed.
        assert.equal((await store.manifests.listReferencedAt("westus")).length, 2);
        await store.manifests.copy("grown", "westus", "grown-copy", "2026-01-03T00:00:00.000Z");
        await store.manifests.deleteAll("grown");
        assert.deepEqual((await store.manifests.get("grown-copy", "westus"))?.manifest, undigested);
      } finally {
        await store.close();
      }
    });
  });
}
