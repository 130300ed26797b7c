/**
 * One replica's job: make each of the version's contents (an image version's disks, an
 * application version's package and configuration) present in every storage location of the
 * replica, copying only the chunks a location lacks from the nearest location that holds the
 * content (same region first), each chunk verified as it is read — or shared without reading where
 * both locations are on one file system (`ChunkStore.copyMissing`); then record the location's
 * manifest. A location whose manifest row exists is complete, so a job that was interrupted
 * (kill -9, lost lease) resumes with the locations and chunks still missing.
 */
import type { ChunkStore } from "../blobs/chunk-store.js";
import { ChunkNotFoundError, CorruptChunkError } from "../blobs/driver.js";
import {
  parseManifest,
  type ChunkHash,
  type DigestedManifest,
  type Manifest,
} from "../blobs/manifest.js";
import type { ManifestRecord, ReplicaRecord, ResourceRecord, Store } from "../domain/resource.js";
import { contentKeyOf, versionContentsOf, type VersionContent } from "../gallery/versions.js";

export interface ReplicateDeps {
  store: Store;
  chunkStore(location: string): ChunkStore;
  regionOf(location: string): string;
  /**
   * Reads a source given by URI into a location — a fixed VHD in a page blob ("vhd", an image
   * version's disk) or any blob as it is ("file", an application's package) — and resolves to its
   * manifest.
   */
  ingestUri?(
    uri: string,
    into: ChunkStore,
    signal: AbortSignal,
    format: "vhd" | "file",
  ): Promise<DigestedManifest>;
}

/**
 * The job's replica is gone (its version or region removed) or taken over: what it would record
 * now would outlive it.
 */
export class LeaseLost extends Error {
  constructor() {
    super("the replica's lease was lost before its content was recorded");
  }
}

/**
 * Records what the job stored, in one transaction that first checks the job still holds its
 * replica — which then cannot be deleted before the transaction ends — so that a version or a
 * region removed meanwhile never leaves a manifest row (and its chunks) behind.
 */
async function recordForJob(
  deps: ReplicateDeps,
  job: ReplicaRecord,
  write: (tx: Store) => Promise<void>,
) {
  await deps.store.transaction(async (tx) => {
    if (!job.leaseOwner || !(await tx.replicas.holdsLease(job, job.leaseOwner))) {
      throw new LeaseLost();
    }
    await write(tx);
  });
}

/** The content is not stored anywhere yet (a URI source another replica ingests): try later. */
export class SourceNotReady extends Error {}

/** A source or a replica's bytes failed in a way retrying will not fix. */
export class ReplicationFailure extends Error {
  constructor(
    message: string,
    readonly code = "ReplicationFailed",
  ) {
    super(message);
  }
}

export interface Progress {
  done: number;
  total: number;
}

/** What a job did: chunks copied (and their bytes), and chunks a location already had. */
export interface ReplicaTally {
  copied: number;
  skipped: number;
  bytes: number;
}

/**
 * Runs replica `job` of `version` to the point where every location holds every content. The caller
 * records completion (it owns the lease).
 */
export async function replicate(
  deps: ReplicateDeps,
  job: ReplicaRecord,
  version: ResourceRecord,
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<ReplicaTally> {
  const tally: ReplicaTally = { copied: 0, skipped: 0, bytes: 0 };
  const contents = versionContentsOf(version.properties);
  const work: { content: VersionContent; key: string; sources: Source[]; slots: number }[] = [];
  for (const content of contents) {
    const key = contentKeyOf(version.key, content.disk);
    let rows = await deps.store.manifests.listByResource(key);
    if (rows.length === 0) {
      rows = [await ingestFirst(deps, job, version, content, key, signal)];
    }
    if (rows[0]!.digest === null)
      rows = await digestFirst(deps, job, version, content, rows, signal);
    // Parsed once here: a manifest holds a hash per chunk, thousands for a disk.
    const sources = rows.map((row) => ({ row, manifest: parseManifest(row.manifest) }));
    work.push({ content, key, sources, slots: sources[0]!.manifest.chunks.length || 1 });
  }
  // Progress counts chunk slots to copy, location by location; a location already complete
  // counts as done from the start.
  const progress: Progress = { done: 0, total: 0 };
  for (const { sources, slots } of work) {
    for (const location of job.locations) {
      progress.total += slots;
      if (sources.some((s) => s.row.location === location)) progress.done += slots;
    }
  }
  onProgress({ ...progress });
  const siblings = new Map<string, Promise<Set<ChunkHash>>>();
  for (const { content, key, sources, slots } of work) {
    for (const location of job.locations) {
      if (sources.some((s) => s.row.location === location)) continue;
      const before = progress.done;
      if (!siblings.has(location)) siblings.set(location, siblingChunks(deps, version, location));
      const source = await copyFromNearest(
        deps,
        sources,
        location,
        content,
        await siblings.get(location)!,
        signal,
        tally,
        (copied) => {
          progress.done = before + copied;
          onProgress({ ...progress });
        },
      );
      const row = { ...source.row, resourceKey: key, location };
      await recordForJob(deps, job, (tx) => tx.manifests.put(row));
      sources.push({ row, manifest: source.manifest });
      progress.done = before + slots;
      onProgress({ ...progress });
    }
  }
  return tally;
}

/**
 * The chunks that the other versions of the same definition (or application) have at `location`:
 * present there, since a row is recorded only once its chunks are, and kept there for this job —
 * read after the job existed, and the job pins its version's content until it finishes (rule P in
 * blobs/gc.ts). What v2 shares with v1 is therefore neither copied nor touched: replicating a
 * version costs what changed, however old the versions before it are.
 */
async function siblingChunks(deps: ReplicateDeps, version: ResourceRecord, location: string) {
  const present = new Set<ChunkHash>();
  if (!version.parentKey) return present;
  const manifests = await deps.store.manifests.listManifestsUnder(
    location,
    `${version.parentKey}/`,
  );
  for (const m of manifests) for (const [, hash] of parseManifest(m).chunks) present.add(hash);
  return present;
}

/** A stored copy of a content: its manifest row, and the manifest parsed. */
interface Source {
  row: ManifestRecord;
  manifest: Manifest;
}

/** Sources in the order a replica tries them: its own region first, then the others. */
function byDistance(deps: ReplicateDeps, sources: readonly Source[], location: string) {
  const region = deps.regionOf(location);
  const near = (s: Source) => Number(deps.regionOf(s.row.location) === region);
  return [...sources].sort((a, b) => near(b) - near(a));
}

async function copyFromNearest(
  deps: ReplicateDeps,
  sources: readonly Source[],
  location: string,
  content: VersionContent,
  present: ReadonlySet<ChunkHash>,
  signal: AbortSignal,
  tally: ReplicaTally,
  onCopied: (chunks: number) => void,
): Promise<Source> {
  const target = deps.chunkStore(location);
  const problems: string[] = [];
  for (const source of byDistance(deps, sources, location)) {
    const { row, manifest } = source;
    if (content.sha256 && manifest.sha256 !== content.sha256) {
      problems.push(`${row.location}: its manifest's digest differs from the version's`);
      continue;
    }
    try {
      const result = await target.copyMissing(manifest, deps.chunkStore(row.location), {
        present,
        signal,
        onProgress: (p) => onCopied(p.chunks),
      });
      tally.copied += result.copied;
      tally.skipped += result.skipped;
      tally.bytes += result.bytes;
      return source;
    } catch (err) {
      // A damaged or missing chunk at one source: the next replica may have a good copy.
      if (err instanceof CorruptChunkError || err instanceof ChunkNotFoundError) {
        problems.push(`${row.location}: ${err.message}`);
        continue;
      }
      throw err;
    }
  }
  throw new ReplicationFailure(
    `No healthy copy of the content to replicate to ${location}: ${problems.join("; ")}`,
  );
}

/**
 * Content this server made (a grown disk, an Empty one) has no digest yet: the version's first
 * replica in its own region reads it whole and records it on every row that holds the same
 * manifest — the version's, its source disk's, that disk's copies and snapshots — so that no
 * later version of that content hashes it again. The other replicas wait for it, as for a URI
 * source.
 */
async function digestFirst(
  deps: ReplicateDeps,
  job: ReplicaRecord,
  version: ResourceRecord,
  content: VersionContent,
  rows: ManifestRecord[],
  signal: AbortSignal,
): Promise<ManifestRecord[]> {
  if (job.region !== version.location || job.ordinal !== 0) throw new SourceNotReady();
  const first = rows[0]!;
  const manifest = parseManifest(first.manifest);
  let sha256: string;
  try {
    sha256 = await deps.chunkStore(first.location).contentDigest(manifest, { signal });
  } catch (err) {
    if (err instanceof CorruptChunkError || err instanceof ChunkNotFoundError) {
      throw new ReplicationFailure(`The source's content cannot be read whole: ${err.message}`);
    }
    throw err;
  }
  await recordForJob(deps, job, async (tx) => {
    await tx.manifests.recordDigest(first.manifest, sha256);
  });
  return deps.store.manifests.listByResource(contentKeyOf(version.key, content.disk));
}

/**
 * A URI source is read once, by the version's first replica in its own region; the others wait
 * for it and then copy from there.
 */
async function ingestFirst(
  deps: ReplicateDeps,
  job: ReplicaRecord,
  version: ResourceRecord,
  content: VersionContent,
  key: string,
  signal: AbortSignal,
): Promise<ManifestRecord> {
  if (content.source.kind !== "uri") {
    throw new ReplicationFailure(
      `The content ${content.disk} of the version is no longer stored anywhere.`,
    );
  }
  if (job.region !== version.location || job.ordinal !== 0) throw new SourceNotReady();
  if (!deps.ingestUri) {
    throw new ReplicationFailure(
      "This server cannot read sources given by URI.",
      "InvalidParameter",
    );
  }
  const location = job.locations[0]!;
  const manifest = await deps.ingestUri(
    content.source.uri,
    deps.chunkStore(location),
    signal,
    content.source.format ?? "vhd",
  );
  const row: ManifestRecord = {
    resourceKey: key,
    location,
    manifest,
    digest: manifest.sha256,
    createdAt: new Date().toISOString(),
  };
  await recordForJob(deps, job, (tx) => tx.manifests.put(row));
  return row;
}
