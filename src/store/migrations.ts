/**
 * Schema migrations, written once with Kysely's schema builder so that SQLite and PostgreSQL run
 * the same steps. Append new migrations; never edit a shipped one.
 */
import {
  Kysely,
  Migrator,
  type Migration,
  type MigrationProvider,
  type MigrationResultSet,
} from "kysely";
import { bodyIdOf } from "./sql-manifests.js";

/** Old manifest rows read per step of 0006: bounds the memory a big data dir needs to migrate. */
const MIGRATE_PAGE = 200;

/** The tables 0006 reads and writes, as they are while it runs. */
interface Tables0006 {
  manifests: {
    resource_key: string;
    location: string;
    manifest: string;
    digest: string;
    created_at: string;
  };
  manifest_bodies: { id: string; body: string };
  manifest_rows: {
    resource_key: string;
    location: string;
    body_id: string;
    digest: string;
    created_at: string;
  };
}

const migrations: Record<string, Migration> = {
  "0001-initial": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("tenants")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("display_name", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("subscriptions")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant_id", "text", (c) => c.notNull().references("tenants.id"))
        .addColumn("display_name", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("principals")
        .addColumn("client_id", "text", (c) => c.primaryKey())
        .addColumn("object_id", "text", (c) => c.notNull())
        .addColumn("tenant_id", "text", (c) => c.notNull().references("tenants.id"))
        .addColumn("display_name", "text", (c) => c.notNull())
        .addColumn("secret_hash", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("resources")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("subscription_id", "text", (c) => c.notNull())
        .addColumn("resource_group", "text", (c) => c.notNull())
        .addColumn("resource_group_key", "text", (c) => c.notNull())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("type_key", "text", (c) => c.notNull())
        .addColumn("parent_key", "text")
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("location", "text", (c) => c.notNull())
        .addColumn("tags", "text")
        .addColumn("properties", "text", (c) => c.notNull())
        .addColumn("unique_key", "text", (c) => c.unique())
        .addColumn("system_data", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex("resources_by_parent")
        .on("resources")
        .columns(["parent_key", "type_key", "key"])
        .execute();
      await db.schema
        .createIndex("resources_by_subscription")
        .on("resources")
        .columns(["subscription_id", "type_key", "key"])
        .execute();
      await db.schema
        .createIndex("resources_by_group")
        .on("resources")
        .columns(["subscription_id", "resource_group_key", "type_key", "key"])
        .execute();
      await db.schema
        .createIndex("resources_by_region")
        .on("resources")
        .columns(["subscription_id", "location", "type_key"])
        .execute();
      await db.schema
        .createTable("operations")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("subscription_id", "text", (c) => c.notNull())
        .addColumn("location", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("start_time", "text", (c) => c.notNull())
        .addColumn("end_time", "text")
        .addColumn("error", "text")
        .execute();
    },
  },
  "0002-manifests": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("manifests")
        .addColumn("resource_key", "text", (c) => c.notNull())
        .addColumn("location", "text", (c) => c.notNull())
        .addColumn("manifest", "text", (c) => c.notNull())
        .addColumn("digest", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("manifests_pk", ["resource_key", "location"])
        .execute();
      await db.schema
        .createIndex("manifests_by_location")
        .on("manifests")
        .columns(["location", "resource_key"])
        .execute();
    },
  },
  "0003-replicas": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("replicas")
        .addColumn("resource_key", "text", (c) => c.notNull())
        .addColumn("region", "text", (c) => c.notNull())
        .addColumn("ordinal", "integer", (c) => c.notNull())
        .addColumn("storage_account_type", "text", (c) => c.notNull())
        .addColumn("locations", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("progress", "integer", (c) => c.notNull())
        .addColumn("details", "text")
        .addColumn("attempts", "integer", (c) => c.notNull())
        .addColumn("lease_owner", "text")
        .addColumn("lease_expires_at", "bigint")
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("replicas_pk", ["resource_key", "region", "ordinal"])
        .execute();
      // What a worker looks for: unfinished replicas, oldest first.
      await db.schema
        .createIndex("replicas_by_state")
        .on("replicas")
        .columns(["state", "updated_at"])
        .execute();
    },
  },
  "0004-region-access": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("region_access")
        .addColumn("region", "text", (c) => c.notNull())
        .addColumn("subscription_id", "text", (c) => c.notNull())
        .addColumn("granted_at", "text", (c) => c.notNull())
        .addColumn("granted_by", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("region_access_pk", ["region", "subscription_id"])
        .execute();
    },
  },
  "0005-operation-resource": {
    async up(db: Kysely<unknown>) {
      // The resource an operation wrote, for polls that show it (DiskOperations' `output`).
      await db.schema.alterTable("operations").addColumn("resource_key", "text").execute();
    },
  },
  "0006-manifest-bodies": {
    async up(db: Kysely<unknown>) {
      // A FromImage disk or a Copy used to get its own copy of the manifest text (≈75 KB for a
      // 4 GiB image); now every row points at one body per distinct text. The rows move into a
      // new table rather than gaining a column, so that body_id is NOT NULL and a foreign key on
      // both dialects. Kysely runs PostgreSQL's migrations in a transaction but not SQLite's: this
      // one moves data, so it opens its own where none is open.
      const run = async (tx: Kysely<Tables0006>) => {
        await tx.schema
          .createTable("manifest_bodies")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("body", "text", (c) => c.notNull())
          .execute();
        await tx.schema
          .createTable("manifest_rows")
          .addColumn("resource_key", "text", (c) => c.notNull())
          .addColumn("location", "text", (c) => c.notNull())
          .addColumn("body_id", "text", (c) => c.notNull().references("manifest_bodies.id"))
          .addColumn("digest", "text", (c) => c.notNull())
          .addColumn("created_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("manifest_rows_pk", ["resource_key", "location"])
          .execute();
        let after: { resource_key: string; location: string } | undefined;
        for (;;) {
          const rows = await tx
            .selectFrom("manifests")
            .selectAll()
            .$if(after !== undefined, (q) =>
              q.where((eb) =>
                eb.or([
                  eb("resource_key", ">", after!.resource_key),
                  eb.and([
                    eb("resource_key", "=", after!.resource_key),
                    eb("location", ">", after!.location),
                  ]),
                ]),
              ),
            )
            .orderBy("resource_key")
            .orderBy("location")
            .limit(MIGRATE_PAGE)
            .execute();
          for (const row of rows) {
            const id = bodyIdOf(row.manifest);
            await tx
              .insertInto("manifest_bodies")
              .values({ id, body: row.manifest })
              .onConflict((oc) => oc.column("id").doNothing())
              .execute();
            await tx
              .insertInto("manifest_rows")
              .values({
                resource_key: row.resource_key,
                location: row.location,
                body_id: id,
                digest: row.digest,
                created_at: row.created_at,
              })
              .execute();
          }
          if (rows.length < MIGRATE_PAGE) break;
          after = rows.at(-1);
        }
        await tx.schema.dropTable("manifests").execute();
        await tx.schema.alterTable("manifest_rows").renameTo("manifests").execute();
        await tx.schema
          .createIndex("manifests_by_location")
          .on("manifests")
          .columns(["location", "resource_key"])
          .execute();
        // What deleting a row asks: does any other row still point at its body?
        await tx.schema
          .createIndex("manifests_by_body")
          .on("manifests")
          .column("body_id")
          .execute();
      };
      const typed = db as Kysely<Tables0006>;
      if (typed.isTransaction) await run(typed);
      else await typed.transaction().execute(run);
    },
  },
  "0007-digest-unknown": {
    async up(db: Kysely<unknown>) {
      // Content this server makes (a grown disk, an Empty one published) has no digest until a
      // version needs it, so the column may be NULL. SQLite cannot drop a NOT NULL in place; the
      // table is rebuilt the same way on both dialects, inside one transaction as in 0006.
      const run = async (tx: Kysely<Tables0006>) => {
        await tx.schema
          .createTable("manifest_rows")
          .addColumn("resource_key", "text", (c) => c.notNull())
          .addColumn("location", "text", (c) => c.notNull())
          .addColumn("body_id", "text", (c) => c.notNull().references("manifest_bodies.id"))
          .addColumn("digest", "text")
          .addColumn("created_at", "text", (c) => c.notNull())
          .addPrimaryKeyConstraint("manifest_rows_pk_0007", ["resource_key", "location"])
          .execute();
        await tx
          .insertInto("manifest_rows")
          .columns(["resource_key", "location", "body_id", "digest", "created_at"])
          .expression(
            (eb) =>
              eb
                .selectFrom("manifests")
                .select(["resource_key", "location", "body_id", "digest", "created_at"]) as never,
          )
          .execute();
        await tx.schema.dropTable("manifests").execute();
        await tx.schema.alterTable("manifest_rows").renameTo("manifests").execute();
        await tx.schema
          .createIndex("manifests_by_location")
          .on("manifests")
          .columns(["location", "resource_key"])
          .execute();
        await tx.schema
          .createIndex("manifests_by_body")
          .on("manifests")
          .column("body_id")
          .execute();
      };
      const typed = db as Kysely<Tables0006>;
      if (typed.isTransaction) await run(typed);
      else await typed.transaction().execute(run);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  report(await new Migrator({ db, provider }).migrateToLatest());
}

/** Runs the migrations up to `name` included: how a test makes a data dir of an older release. */
export async function migrateUpTo(db: Kysely<unknown>, name: string): Promise<void> {
  report(await new Migrator({ db, provider }).migrateTo(name));
}

function report({ error, results }: MigrationResultSet) {
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed`, { cause: error });
  }
}
