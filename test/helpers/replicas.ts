/** Replica records for tests that drive the store or a replica job directly. */
import type { ReplicaRecord } from "../../src/domain/resource.js";

/** The worker that holds `replicaJob`'s lease unless told otherwise. */
export const WORKER = "worker-1";

/** Replica 0 of `resourceKey` in westus, being replicated by `WORKER` (a lease of a minute). */
export function replicaJob(resourceKey: string, over: Partial<ReplicaRecord> = {}): ReplicaRecord {
  return {
    resourceKey,
    region: "westus",
    ordinal: 0,
    storageAccountType: "Standard_LRS",
    locations: ["westus"],
    state: "Replicating",
    progress: 0,
    details: null,
    attempts: 0,
    leaseOwner: WORKER,
    leaseExpiresAt: Date.now() + 60_000,
    updatedAt: new Date().toISOString(),
    ...over,
  };
}
