/**
 * Ingest benchmark: `ChunkStore.ingest` of one file into a fresh `FsBlobDriver` store, beside
 * `openssl dgst -sha256 FILE` (the yardstick: publishing must take less, aim for half)
 * and `cp --sparse=always FILE DIR` in the same run, plus the floor of any ingest that also
 * yields the whole-content SHA-256: node's SHA-256 of the whole file, read in 4 MiB pieces.
 *
 * Each ingest runs in a child process (node + tsx) that times the ingest itself (not its start-up)
 * and reports its peak RSS (VmHWM) and the event-loop utilization of the ingest. The file is read
 * once first, so every pass runs from the page cache; the methods are interleaved per round and
 * medians reported. The ingest's SHA-256 is checked against openssl's.
 *
 * Default input: a generated 1 GiB sparse file with ~200 MB of pseudo-random data in extents
 * (64 KiB–8 MiB, 4 KiB-aligned, at pseudo-random offsets). Or `--file .corpus/debian-v1.raw`.
 *
 * Variants are `<source>:<durability>`: source `read` is `fileRandomAccess` as it is (a fresh
 * buffer per chunk), `into` the same file offering `readInto` (recycled buffers); durability
 * `fsync` is the driver's default, `none` shows what the fsyncs cost.
 *
 * Usage: npm run bench:ingest -- [--file PATH] [--size 1G] [--data 200M] [--rounds 5]
 *          [--chunk-sizes 4M] [--concurrency 4] [--variants read:fsync,read:none,into:fsync]
 *          [--keep]
 */
import { spawn, spawnSync } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { open, rm, stat } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { ChunkStore, type RandomAccessInto } from "../src/blobs/chunk-store.js";
import { FsBlobDriver } from "../src/blobs/fs-driver.js";
import { occupiedBytes, uniqueBytes } from "../src/blobs/manifest.js";
import { fileRandomAccess, type RandomAccess } from "../src/formats/random-access.js";
import { median } from "./stats.js";

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text.trim());
  if (!m) throw new Error(`bad size '${text}' (use e.g. 256K, 4M, 1G)`);
  const unit = { "": 1, K: KIB, M: MIB, G: GIB }[m[2]!.toUpperCase()]!;
  return Math.round(Number(m[1]) * unit);
}

interface ChildJob {
  file: string;
  store: string;
  chunkSize: number;
  concurrency: number;
  durability: "fsync" | "none";
  /** "read": `fileRandomAccess` as it is; "into": the same file with `readInto` (recycled buffers). */
  source: "read" | "into";
}

interface ChildResult {
  ms: number;
  /** CPU time of the whole process (all threads) during the ingest. */
  cpuMs: number;
  sha256: string;
  chunks: number;
  stored: number;
  written: number;
  zero: number;
  occupied: number;
  unique: number;
  usageBytes: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
  eventLoopUtilization: number;
}

function vmKiB(field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
    readFileSync("/proc/self/status", "utf8"),
  );
  return m ? Number(m[1]) : NaN;
}

/** The child side: one ingest, measured from the inside. */
async function runChild(job: ChildJob): Promise<ChildResult> {
  const rssBefore = vmKiB("VmRSS");
  const file = await fileRandomAccess(job.file);
  const handle = job.source === "into" ? await open(job.file, "r") : undefined;
  const source: RandomAccess | RandomAccessInto = handle
    ? {
        size: file.size,
        read: (offset, length, options) => file.read(offset, length, options),
        async readInto(target, offset) {
          for (let done = 0; done < target.length;) {
            const { bytesRead } = await handle.read(
              target,
              done,
              target.length - done,
              offset + done,
            );
            if (bytesRead === 0) throw new Error(`${job.file}: short read at ${offset + done}`);
            done += bytesRead;
          }
        },
      }
    : file;
  try {
    const driver = new FsBlobDriver(job.store, { durability: job.durability });
    const store = new ChunkStore(driver, {
      chunkSize: job.chunkSize,
      concurrency: job.concurrency,
    });
    let written = 0;
    let zero = 0;
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const m = await store.ingest(source, {
      onProgress: (p) => {
        written = p.written;
        zero = p.zero;
      },
    });
    const ms = performance.now() - started;
    const cpuMs = cpuMsSince(cpu);
    const loop = performance.eventLoopUtilization(elu);
    return {
      ms,
      cpuMs,
      sha256: m.sha256,
      chunks: Math.ceil(m.size / m.chunkSize),
      stored: m.chunks.length,
      written,
      zero,
      occupied: occupiedBytes(m),
      unique: uniqueBytes(m),
      usageBytes: (await driver.usage()).bytes,
      rssBeforeMiB: rssBefore / 1024,
      peakRssMiB: vmKiB("VmHWM") / 1024,
      eventLoopUtilization: loop.utilization,
    };
  } finally {
    await file.close();
    await handle?.close();
  }
}

if (process.argv[2] === "--child") {
  const result = await runChild(JSON.parse(process.argv[3]!) as ChildJob);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
}

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    file: { type: "string" },
    size: { type: "string", default: "1G" },
    data: { type: "string", default: "200M" },
    rounds: { type: "string", default: "5" },
    "chunk-sizes": { type: "string", default: "4M" },
    concurrency: { type: "string", default: "4" },
    variants: { type: "string", default: "read:fsync,read:none,into:fsync" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});
const rounds = Math.max(1, Number(args.rounds));
const chunkSizes = args["chunk-sizes"].split(",").map(parseSize);
const variants = args.variants.split(",").map((v) => {
  const [source, durability] = v.split(":");
  if (
    (source !== "read" && source !== "into") ||
    (durability !== "fsync" && durability !== "none")
  ) {
    throw new Error(`bad variant '${v}' (<read|into>:<fsync|none>)`);
  }
  return { source, durability } as Pick<ChildJob, "source" | "durability">;
});
const concurrency = Number(args.concurrency);
const work = mkdtempSync(join(process.env.OCG_BENCH_DIR ?? tmpdir(), "ocg-ingest-"));

/** Deterministic generator (mulberry32) for extent placement. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sparse file of `size` bytes with about `dataBytes` of pseudo-random data in extents. */
async function generate(path: string, size: number, dataBytes: number): Promise<void> {
  const random = prng(42);
  const keystream = createCipheriv("aes-128-ctr", Buffer.alloc(16, 7), Buffer.alloc(16));
  const block = 4 * KIB;
  const file = await open(path, "w");
  try {
    let written = 0;
    while (written < dataBytes) {
      const length = Math.min(
        dataBytes - written,
        Math.max(16, Math.round((64 * KIB + random() * (8 * MIB - 64 * KIB)) / block)) * block,
      );
      const offset = Math.floor((random() * (size - length)) / block) * block;
      await file.write(keystream.update(Buffer.alloc(length)), 0, length, offset);
      written += length;
    }
    await file.truncate(size);
  } finally {
    await file.close();
  }
}

const TIME = "/usr/bin/time";
const haveTime = existsSync(TIME);

/** Wall time, and CPU time (user + sys) when /usr/bin/time is there to tell it. */
function timed(command: string, argv: string[]): { ms: number; cpuMs: number; stdout: string } {
  const [cmd, args] = haveTime ? [TIME, ["-f", "%U %S", command, ...argv]] : [command, argv];
  const started = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`${command} ${argv.join(" ")} failed: ${r.stderr}`);
  const [user, sys] = haveTime ? r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number) : [];
  return { ms, cpuMs: haveTime ? (user! + sys!) * 1000 : NaN, stdout: r.stdout };
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

async function nodeSha256(path: string): Promise<{ ms: number; cpuMs: number; sha256: string }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(4 * MIB);
  const file = await open(path, "r");
  try {
    for (let offset = 0; ;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      offset += bytesRead;
    }
  } finally {
    await file.close();
  }
  const sha256 = hash.digest("hex");
  return { ms: performance.now() - started, cpuMs: cpuMsSince(cpu), sha256 };
}

async function ingestInChild(job: ChildJob): Promise<ChildResult> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(root, "bench/ingest.ts"), "--child", JSON.stringify(job)],
    { stdio: ["ignore", "pipe", "inherit"], cwd: root },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`ingest child exited with ${code}`);
  return JSON.parse(out) as ChildResult;
}

const fmtMiB = (n: number) => `${(n / MIB).toFixed(1)} MiB`;
const fmtChunk = (n: number) => (n >= MIB ? `${n / MIB} MiB` : `${n / KIB} KiB`);

const loadAtStart = loadavg()[0]!.toFixed(1);
try {
  let file: string;
  if (args.file) {
    file = resolve(args.file);
  } else {
    file = join(work, "sparse.raw");
    await generate(file, parseSize(args.size), parseSize(args.data));
  }
  const info = await stat(file);
  spawnSync("cat", [file], { stdio: ["ignore", "ignore", "inherit"] }); // warm the page cache
  const expected = timed("openssl", ["dgst", "-sha256", "-r", file]).stdout.split(" ")[0]!;

  interface Row {
    name: string;
    runs: number[];
    cpu: number[];
  }
  const openssl: Row = { name: "openssl dgst -sha256", runs: [], cpu: [] };
  const nodeHash: Row = { name: "node sha256 of whole file (ingest floor)", runs: [], cpu: [] };
  const cp: Row = { name: "cp --sparse=always (no fsync)", runs: [], cpu: [] };
  const ingests = chunkSizes.flatMap((chunkSize) =>
    variants.map(({ source, durability }) => ({
      row: {
        name:
          `ingest ${fmtChunk(chunkSize)}, ${source === "read" ? "read()" : "readInto()"}, ` +
          (durability === "fsync" ? "fsync" : "no fsync"),
        runs: [],
        cpu: [],
      } as Row,
      chunkSize,
      source,
      durability,
      results: [] as ChildResult[],
    })),
  );

  for (let round = 0; round < rounds; round++) {
    const dgst = timed("openssl", ["dgst", "-sha256", file]);
    openssl.runs.push(dgst.ms);
    openssl.cpu.push(dgst.cpuMs);
    const whole = await nodeSha256(file);
    if (whole.sha256 !== expected) throw new Error("node's SHA-256 differs from openssl's");
    nodeHash.runs.push(whole.ms);
    nodeHash.cpu.push(whole.cpuMs);
    const copyDir = join(work, `cp-${round}`);
    await rm(copyDir, { recursive: true, force: true });
    spawnSync("mkdir", ["-p", copyDir]);
    const copy = timed("cp", ["--sparse=always", file, copyDir]);
    cp.runs.push(copy.ms);
    cp.cpu.push(copy.cpuMs);
    await rm(copyDir, { recursive: true, force: true });
    for (const ingest of ingests) {
      const storeDir = join(work, `store-${round}`);
      const result = await ingestInChild({
        file,
        store: storeDir,
        chunkSize: ingest.chunkSize,
        concurrency,
        durability: ingest.durability,
        source: ingest.source,
      });
      if (result.sha256 !== expected) {
        throw new Error(`ingest digest ${result.sha256} differs from openssl's ${expected}`);
      }
      ingest.row.runs.push(result.ms);
      ingest.row.cpu.push(result.cpuMs);
      ingest.results.push(result);
      await rm(storeDir, { recursive: true, force: true });
    }
  }

  const base = median(openssl.runs);
  const baseCpu = median(openssl.cpu);
  const rows = [openssl, nodeHash, cp, ...ingests.map((i) => i.row)];
  console.log(
    `file: ${file} — ${fmtMiB(info.size)} provisioned, ${fmtMiB(info.blocks * 512)} allocated; ` +
      `${rounds} rounds, page cache warm, concurrency ${concurrency}; ${cpus().length} CPUs, ` +
      `load average ${loadAtStart} at start, ${loadavg()[0]!.toFixed(1)} at end`,
  );
  console.log(
    "| method | median | min | max | × openssl | GB/s of file | CPU (user+sys) | CPU × openssl |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    const m = median(row.runs);
    const c = median(row.cpu);
    console.log(
      `| ${row.name} | ${(m / 1000).toFixed(2)} s | ${(Math.min(...row.runs) / 1000).toFixed(2)} s | ` +
        `${(Math.max(...row.runs) / 1000).toFixed(2)} s | ${(m / base).toFixed(2)} | ` +
        `${(info.size / (m / 1000) / 1e9).toFixed(2)} | ${(c / 1000).toFixed(2)} s | ` +
        `${(c / baseCpu).toFixed(2)} |`,
    );
  }
  console.log(
    "\n| ingest | chunks (zero / stored / written) | occupied | peak RSS (before) | event loop busy |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const ingest of ingests) {
    const r = ingest.results[0]!;
    const peak = Math.max(...ingest.results.map((x) => x.peakRssMiB));
    console.log(
      `| ${ingest.row.name} | ${r.chunks} (${r.zero} / ${r.stored} / ${r.written}) | ` +
        `${fmtMiB(r.usageBytes)} | ${peak.toFixed(0)} MiB (${r.rssBeforeMiB.toFixed(0)} MiB) | ` +
        `${(median(ingest.results.map((x) => x.eventLoopUtilization)) * 100).toFixed(0)}% |`,
    );
  }
  console.log(`\nSHA-256 ${expected} (ingest matches openssl)`);
} finally {
  if (!args.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
