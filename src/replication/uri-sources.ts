/**
 * Sources given by URI, as versions and their replication jobs use them: an image version's VHD
 * (`source.uri` + `storageAccountId`) and an application version's `mediaLink` and
 * `defaultConfigurationLink` (any blob, taken as it is). Checked before a version is recorded (a
 * bad source is a 400 naming it, and nothing is written), ingested once by the version's first
 * replica. Permanent problems fail the job at once; transient ones (the blob unreachable,
 * throttled) are retried like any other replication error.
 */
import type { ChunkStore } from "../blobs/chunk-store.js";
import type { DigestedManifest } from "../blobs/manifest.js";
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

/** Checks a file source (an application's package or configuration): it exists and is readable. */
export async function checkFileUri(uri: string, target: string) {
  try {
    await checkSource(uri, { kind: "file" });
  } catch (err) {
    throw err instanceof BlobSourceError ? azureErrorOf(err, target) : err;
  }
}

export async function ingestUriSource(
  uri: string,
  into: ChunkStore,
  signal: AbortSignal,
  format: "vhd" | "file",
): Promise<DigestedManifest> {
  try {
    return (await ingestFromUri(into, uri, { kind: format, signal })).manifest;
  } catch (err) {
    if (err instanceof BlobSourceError && PERMANENT.has(err.reason)) {
      const target = format === "vhd" ? "source.uri" : "source";
      throw new ReplicationFailure(azureErrorOf(err, target).message, "InvalidParameter");
    }
    throw err;
  }
}
