/**
 * A manifest: how one replica of a disk's content is laid out in one chunk store. Content is cut
 * into fixed-size chunks; chunk `i` covers bytes `[i * chunkSize, min((i + 1) * chunkSize, size))`.
 * `chunks` lists the chunks that hold data, in ascending index order, each with the SHA-256 of its
 * bytes; an index that is absent is a hole (all zeros, never stored). `sha256` is the digest of the
 * whole content, holes included, i.e. what `sha256sum` of the raw disk prints. It is absent from
 * content this server made rather than read — a disk grown past its source, an Empty disk turned
 * into a version — where it would mean hashing gigabytes of zeros that nobody may ever ask about:
 * replication computes it (`ChunkStore.contentDigest`) when a version needs it.
 *
 * Manifests are plain JSON so that the metadata store can keep them; `parseManifest` checks one
 * read back. They are what garbage collection counts as references (see gc.ts).
 */

/** Lower-case hex SHA-256 of a chunk's bytes. */
export type ChunkHash = string;

export interface Manifest {
  /** Content length in bytes. */
  readonly size: number;
  /** Length of every chunk but the last, which may be shorter. */
  readonly chunkSize: number;
  /** SHA-256 (lower-case hex) of the whole content, holes read as zeros; absent until computed. */
  readonly sha256?: string;
  /** `[index, hash]` of every chunk that is not all zeros, ascending by index. */
  readonly chunks: readonly (readonly [index: number, hash: ChunkHash])[];
}

/** A manifest whose content digest is known: what reading a content (ingest) always yields. */
export type DigestedManifest = Manifest & { readonly sha256: string };

const HASH = /^[0-9a-f]{64}$/;

/** True for a well-formed chunk address (64 lower-case hex digits). */
export function isChunkHash(value: unknown): value is ChunkHash {
  return typeof value === "string" && HASH.test(value);
}

/** Number of chunk slots (stored or hole) that cover the content. */
export function chunkCount(m: Pick<Manifest, "size" | "chunkSize">): number {
  return Math.ceil(m.size / m.chunkSize);
}

/** Length of chunk `index`: `chunkSize`, except for the last chunk. */
export function chunkLength(m: Pick<Manifest, "size" | "chunkSize">, index: number): number {
  return Math.max(0, Math.min(m.chunkSize, m.size - index * m.chunkSize));
}

/** The distinct chunk hashes a manifest references. */
export function manifestHashes(m: Manifest): Set<ChunkHash> {
  return new Set(m.chunks.map(([, hash]) => hash));
}

/**
 * Bytes this manifest occupies in its store if no chunk were shared: the sum of the lengths of its
 * stored chunks (what Azure bills as a disk's used size, as opposed to `size`, the provisioned
 * size). Chunks shared with other manifests, or repeated within this one, are counted each time.
 */
export function occupiedBytes(m: Manifest): number {
  let total = 0;
  for (const [index] of m.chunks) total += chunkLength(m, index);
  return total;
}

/** Bytes of the distinct chunks of a manifest (what it adds to an empty store). */
export function uniqueBytes(m: Manifest): number {
  const seen = new Map<ChunkHash, number>();
  for (const [index, hash] of m.chunks) seen.set(hash, chunkLength(m, index));
  let total = 0;
  for (const length of seen.values()) total += length;
  return total;
}

/** A manifest that failed `parseManifest`; `path` names the offending field. */
export class InvalidManifestError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`invalid manifest: ${path}: ${message}`);
    this.name = "InvalidManifestError";
  }
}

/**
 * Checks a value read back from storage and returns it typed. Throws `InvalidManifestError` unless
 * sizes are safe non-negative integers, the chunk size positive, the digest a SHA-256, and chunks
 * strictly ascending, within range, with well-formed hashes.
 */
export function parseManifest(value: unknown): Manifest {
  if (typeof value !== "object" || value === null)
    throw new InvalidManifestError("not an object", "$");
  const v = value as Record<string, unknown>;
  const { size, chunkSize, sha256, chunks } = v;
  if (!Number.isSafeInteger(size) || (size as number) < 0) {
    throw new InvalidManifestError("must be a non-negative integer", "size");
  }
  if (!Number.isSafeInteger(chunkSize) || (chunkSize as number) <= 0) {
    throw new InvalidManifestError("must be a positive integer", "chunkSize");
  }
  if (sha256 !== undefined && !isChunkHash(sha256)) {
    throw new InvalidManifestError("must be a SHA-256 in hex", "sha256");
  }
  if (!Array.isArray(chunks)) throw new InvalidManifestError("must be an array", "chunks");
  const count = chunkCount({ size: size as number, chunkSize: chunkSize as number });
  let previous = -1;
  for (const [i, entry] of chunks.entries()) {
    const at = `chunks[${i}]`;
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new InvalidManifestError("must be [index, hash]", at);
    }
    const [index, hash] = entry as unknown[];
    if (
      !Number.isSafeInteger(index) ||
      (index as number) <= previous ||
      (index as number) >= count
    ) {
      throw new InvalidManifestError(`index must ascend and be below ${count}`, at);
    }
    if (!isChunkHash(hash)) throw new InvalidManifestError("hash must be a SHA-256 in hex", at);
    previous = index as number;
  }
  return {
    size: size as number,
    chunkSize: chunkSize as number,
    ...(sha256 === undefined ? {} : { sha256 }),
    chunks: chunks as [number, string][],
  };
}
