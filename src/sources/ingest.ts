/**
 * `ingestFromUri`: a source read through its URI into a `ChunkStore`, in one pass, through the
 * chunk store's own `ingest` (hash, zero-skip, write chunks). What an image version's VHD source
 * (`source.uri` + `source.storageAccountId`) and an application version's `mediaLink` or
 * `defaultConfigurationLink` become.
 *
 * Invariants:
 * - All or nothing, and checks first: the blob is opened and, for a VHD, its type and footer are
 *   checked before a single chunk is written, so a refused source leaves the store untouched.
 *   A failure later (the blob changes, the host goes away) rejects before any manifest exists;
 *   the chunks written by then are unreferenced and garbage collection's.
 * - A VHD is ingested whole, footer included (as a disk upload is), so the manifest's `sha256` is
 *   the SHA-256 of the blob and a download gives back the same bytes.
 * - Only data is downloaded: holes of a page blob are zeros made locally, skipped by the ingest.
 */
import type { ChunkStore, IngestProgress, ProgressCallback } from "../blobs/chunk-store.js";
import type { DigestedManifest } from "../blobs/manifest.js";
import { FormatError } from "../formats/random-access.js";
import { openFixedVhd, VhdError, type VhdFooter } from "../formats/vhd.js";
import {
  openBlobSource,
  type BlobProperties,
  type BlobSource,
  type BlobSourceOptions,
  type BlobSourceStats,
} from "./blob-source.js";
import { BlobSourceError } from "./errors.js";

export interface IngestFromUriOptions extends BlobSourceOptions {
  /**
   * "vhd": a disk source, which must be a page blob holding a fixed VHD in Azure's format.
   * "file": any blob (an application package or configuration), taken as it is.
   */
  kind: "vhd" | "file";
  onProgress?: ProgressCallback<IngestProgress>;
}

export interface UriIngest {
  /** The content's manifest: `size` and `sha256` are the blob's. */
  readonly manifest: DigestedManifest;
  /** What Get Blob Properties said (ETag of the version read, type, MD5 if kept). */
  readonly properties: BlobProperties;
  /** The VHD footer, for kind "vhd". */
  readonly footer?: VhdFooter;
  /** Bytes with data in the source (page ranges), and what reading it took. */
  readonly dataBytes: number;
  readonly stats: BlobSourceStats;
}

/**
 * Opens the blob at `uri` and checks it is usable as `kind` (for "vhd": a page blob holding a
 * fixed VHD in Azure's format) without reading its data. The caller closes the source.
 */
export async function openCheckedSource(
  uri: string,
  options: BlobSourceOptions & { kind: "vhd" | "file" },
): Promise<{ source: BlobSource; footer?: VhdFooter }> {
  const { kind, ...blobOptions } = options;
  const source = await openBlobSource(uri, blobOptions);
  try {
    if (kind === "file") return { source };
    const type = source.properties.blobType;
    if (type !== "PageBlob") {
      throw new BlobSourceError(
        "not-page-blob",
        `${source.uri} is ${type ? `a ${type}` : "not an Azure Storage blob"}; a VHD source must be a page blob`,
        { uri: source.uri },
      );
    }
    try {
      return { source, footer: (await openFixedVhd(source, { signal: options.signal })).footer };
    } catch (err) {
      if (err instanceof VhdError || (err instanceof FormatError && err.format === "vhd")) {
        throw new BlobSourceError(
          "invalid-vhd",
          `${source.uri}: ${err.message}`,
          { uri: source.uri },
          { cause: err },
        );
      }
      throw err;
    }
  } catch (err) {
    source.close();
    throw err;
  }
}

/** Checks a source before anything is recorded for it: it exists, is readable and is `kind`. */
export async function checkSource(
  uri: string,
  options: BlobSourceOptions & { kind: "vhd" | "file" },
): Promise<BlobProperties> {
  const { source } = await openCheckedSource(uri, options);
  source.close();
  return source.properties;
}

/**
 * Reads the blob at `uri` into `store` and returns its manifest; nothing is recorded anywhere
 * else (committing the manifest is the caller's). Rejects with a `BlobSourceError` for a source
 * that cannot be used (see errors.ts), or the abort reason of `signal`.
 */
export async function ingestFromUri(
  store: ChunkStore,
  uri: string,
  options: IngestFromUriOptions,
): Promise<UriIngest> {
  const { onProgress, ...checkOptions } = options;
  const { source, footer } = await openCheckedSource(uri, checkOptions);
  try {
    const manifest = await store.ingest(source, { signal: options.signal, onProgress });
    return {
      manifest,
      properties: source.properties,
      ...(footer ? { footer } : {}),
      dataBytes: source.dataBytes,
      stats: { ...source.stats },
    };
  } finally {
    source.close();
  }
}
