/**
 * VHD sources given by URI, as versions and their replication jobs use them: checked before a
 * version is recorded (a bad source is a 400 naming it, and nothing is written), ingested once by
 * the version's first replica. Permanent problems fail the job at once; transient ones (the blob
 * unreachable, throttled) are retried like any other replication error.
 */
import type { ChunkStore } from "../blobs/chunk-store.js";
import type { Manifest } from "../blobs/manifest.js";
import { azureErrorOf, BlobSourceError, type BlobSourceErrorReason } from "../sources/errors.js";
import { checkSource, ingestFromUri } from "../sources/ingest.js";
import { ReplicationFailure } from "./replicate.js";

const PERMANENT: ReadonlySet<BlobSourceErrorReason> = new Set([
  "bad-uri",
  "account-mismatch",
  "not-page-blob",
  "invalid-vhd",
  "not-found",
  "access-denied",
  "sas-expired",
]);

export async function checkVhdUri(uri: string, storageAccountId: string, target: string) {
  try {
    await checkSource(uri, { kind: "vhd", storageAccountId });
  } catch (err) {
    throw err instanceof BlobSourceError ? azureErrorOf(err, target) : err;
  }
}

export async function ingestVhdUri(
  uri: string,
  into: ChunkStore,
  signal: AbortSignal,
): Promise<Manifest> {
  try {
    return (await ingestFromUri(into, uri, { kind: "vhd", signal })).manifest;
  } catch (err) {
    if (err instanceof BlobSourceError && PERMANENT.has(err.reason)) {
      throw new ReplicationFailure(azureErrorOf(err, "source.uri").message, "InvalidParameter");
    }
    throw err;
  }
}
