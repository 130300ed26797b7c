/**
 * Ingest through a URI against a local ingest of the same file, in one run: the file (default the
 * corpus's debian-v1.vhd) is uploaded once to Azurite as a sparse page blob (its data only), then
 * each round ingests it locally (`fileRandomAccess`) and through a SAS URL (`ingestFromUri`) with
 * each concurrency × block size, every pass into a fresh fs chunk store. Reports medians and the
 * ratio of each URI variant to the local median. Azurite is itself Node (it reads its extents from
 * files and serves them over HTTP on the same machine), so this measures our reader plus Azurite,
 * not a network. "fetch" is the reading alone: the whole blob read in order through the source
 * (holes as zeros), no hashing nor chunk store — what the concurrency and block size act on.
 *
 * Usage: npm run bench:ingest-uri -- [--file PATH] [--rounds 3] [--variants 4x4M,8x4M,8x1M,16x4M]
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ChunkStore } from "../src/blobs/chunk-store.js";
import { FsBlobDriver } from "../src/blobs/fs-driver.js";
import { fileRandomAccess } from "../src/formats/random-access.js";
import { openBlobSource } from "../src/sources/blob-source.js";
import { ingestFromUri } from "../src/sources/ingest.js";
import { startAzurite, uploadSparsePageBlob } from "../test/helpers/azurite.js";
import { tempDir } from "../test/helpers/server.js";
import { median } from "./stats.js";

const MIB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    file: { type: "string" },
    rounds: { type: "string", default: "3" },
    variants: { type: "string", default: "4x4M,8x4M,8x1M,16x4M" },
  },
});
const corpus = resolve(process.env.OCG_CORPUS_DIR ?? join(import.meta.dirname, "..", ".corpus"));
const file = resolve(values.file ?? join(corpus, "debian-v1.vhd"));
if (!existsSync(file)) throw new Error(`${file} is missing: build the corpus (npm run setup:test)`);
const rounds = Number(values.rounds);
const variants = values.variants.split(",").map((v) => {
  const m = /^(\d+)x(\d+)M$/.exec(v.trim());
  if (!m) throw new Error(`bad variant '${v}' (use e.g. 8x4M: concurrency x block MiB)`);
  return { name: v.trim(), concurrency: Number(m[1]), blockSize: Number(m[2]) * MIB };
});

async function timed<T>(run: (store: ChunkStore) => Promise<T>): Promise<{ ms: number; out: T }> {
  const dir = tempDir("bench-uri");
  try {
    const store = new ChunkStore(new FsBlobDriver(dir));
    const started = performance.now();
    const out = await run(store);
    return { ms: performance.now() - started, out };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const az = await startAzurite();
try {
  const container = az.service.getContainerClient("bench");
  await container.create();
  const uploadStarted = performance.now();
  const uploaded = await uploadSparsePageBlob(container.getPageBlobClient("disk.vhd"), file);
  const uploadMs = performance.now() - uploadStarted;
  const url = az.sasUrl("bench", "disk.vhd");
  console.log(
    `file ${file}: ${(uploaded / MIB).toFixed(0)} MiB of data uploaded to Azurite in ${(uploadMs / 1000).toFixed(1)} s; ` +
      `${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
  );

  const times: Record<string, number[]> = { local: [] };
  for (const v of variants) {
    times[v.name] = [];
    times[`fetch ${v.name}`] = [];
  }
  let digest: string | undefined;
  for (let round = 1; round <= rounds; round++) {
    const local = await timed(async (store) => {
      const source = await fileRandomAccess(file);
      try {
        return await store.ingest(source);
      } finally {
        await source.close();
      }
    });
    digest ??= local.out.sha256;
    times.local!.push(local.ms);
    const line = [`round ${round}: local ${(local.ms / 1000).toFixed(2)} s`];
    for (const v of variants) {
      const r = await timed((store) =>
        ingestFromUri(store, url, {
          kind: "vhd",
          concurrency: v.concurrency,
          blockSize: v.blockSize,
        }),
      );
      if (r.out.manifest.sha256 !== digest) throw new Error(`${v.name}: digest differs`);
      times[v.name]!.push(r.ms);
      const started = performance.now();
      const source = await openBlobSource(url, {
        concurrency: v.concurrency,
        blockSize: v.blockSize,
      });
      try {
        const buffer = Buffer.allocUnsafe(4 * MIB);
        for (let at = 0; at < source.size; at += buffer.length) {
          await source.readInto(buffer.subarray(0, Math.min(buffer.length, source.size - at)), at);
        }
      } finally {
        source.close();
      }
      times[`fetch ${v.name}`]!.push(performance.now() - started);
      line.push(
        `${v.name} ${(r.ms / 1000).toFixed(2)} s (${r.out.stats.requests} requests, ${(r.out.stats.bytesFetched / MIB).toFixed(0)} MiB)`,
      );
    }
    console.log(line.join(", "));
  }
  const base = median(times.local!);
  console.log(`\nmedians of ${rounds} (data ${(uploaded / MIB).toFixed(0)} MiB):`);
  console.log(`  local          ${(base / 1000).toFixed(2)} s  1.00×`);
  for (const v of variants) {
    const m = median(times[v.name]!);
    console.log(
      `  uri ${v.name.padEnd(10)} ${(m / 1000).toFixed(2)} s  ${(m / base).toFixed(2)}×  ` +
        `(${(uploaded / MIB / (m / 1000)).toFixed(0)} MiB/s of data)`,
    );
  }
  for (const v of variants) {
    const m = median(times[`fetch ${v.name}`]!);
    console.log(
      `  fetch ${v.name.padEnd(8)} ${(m / 1000).toFixed(2)} s  ${(uploaded / MIB / (m / 1000)).toFixed(0)} MiB/s of data`,
    );
  }
} finally {
  await az.stop();
}
