/** Row shapes of the metadata database, shared by every dialect. Timestamps are ISO-8601 text. */
export interface ResourcesTable {
  key: string;
  id: string;
  subscription_id: string;
  resource_group: string;
  resource_group_key: string;
  type: string;
  type_key: string;
  parent_key: string | null;
  name: string;
  location: string;
  tags: string | null;
  properties: string;
  unique_key: string | null;
  system_data: string;
}

export interface OperationsTable {
  id: string;
  subscription_id: string;
  location: string;
  status: string;
  start_time: string;
  end_time: string | null;
  error: string | null;
  resource_key: string | null;
}

export interface TenantsTable {
  id: string;
  display_name: string;
}

export interface SubscriptionsTable {
  id: string;
  tenant_id: string;
  display_name: string;
  state: string;
}

export interface PrincipalsTable {
  client_id: string;
  object_id: string;
  tenant_id: string;
  display_name: string;
  secret_hash: string;
}

export interface ManifestsTable {
  resource_key: string;
  location: string;
  /** The manifest_bodies row holding the manifest's JSON text. */
  body_id: string;
  /** NULL until computed, as the manifest's own `sha256`. */
  digest: string | null;
  created_at: string;
}

/** Manifest texts, once each; `id` is the SHA-256 of `body`. */
export interface ManifestBodiesTable {
  id: string;
  body: string;
}

export interface ReplicasTable {
  resource_key: string;
  region: string;
  ordinal: number;
  storage_account_type: string;
  /** JSON array of storage location ids. */
  locations: string;
  state: string;
  progress: number;
  details: string | null;
  attempts: number;
  lease_owner: string | null;
  /** Epoch ms; bigint in PostgreSQL, which pg hands back as a string. */
  lease_expires_at: number | string | null;
  updated_at: string;
}

export interface RegionAccessTable {
  region: string;
  subscription_id: string;
  granted_at: string;
  granted_by: string;
}

export interface Database {
  resources: ResourcesTable;
  manifests: ManifestsTable;
  manifest_bodies: ManifestBodiesTable;
  replicas: ReplicasTable;
  region_access: RegionAccessTable;
  operations: OperationsTable;
  tenants: TenantsTable;
  subscriptions: SubscriptionsTable;
  principals: PrincipalsTable;
}
