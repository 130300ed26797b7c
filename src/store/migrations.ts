/**
 * Schema migrations, written once with Kysely's schema builder so that SQLite and PostgreSQL run
 * the same steps. Append new migrations; never edit a shipped one.
 */
import { Kysely, Migrator, type Migration, type MigrationProvider } from "kysely";

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
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ""} failed`, { cause: error });
  }
}
