/**
 * Chunk-size benchmark on the disk corpus (scripts/corpus.sh): for each candidate size, what the
 * chunk store would hold for debian-v1.raw (non-zero chunks, distinct chunks, stored bytes) and
 * what debian-v2.raw adds given v1 (chunks whose SHA-256 is not among v1's), and how long one
 * pass over v1 takes that reads, skips all-zero chunks and hashes the rest with node:crypto,
 * beside `openssl dgst -sha256` of the same file and a pass that only reads and zero-checks, in
 * the same run. Files are read once first so every timed pass runs from the page cache. Times
 * are the best of `--rounds`, wall clock and CPU (user + system; steadier when the machine is
 * shared). See BENCHMARKS.md.
 *
 * Usage: npm run bench:chunk-size -- [--corpus .corpus] [--sizes 64K,128K,256K,1M,4M] [--rounds 3]
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { open, stat } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    corpus: { type: "string", default: process.env.OCG_CORPUS_DIR ?? join(root, ".corpus") },
    sizes: { type: "string", default: "64K,128K,256K,1M,4M" },
    rounds: { type: "string", default: "3" },
  },
});
const corpus = resolve(args.corpus);
const rounds = Math.max(1, Number(args.rounds));
const KIB = 1024;
const MIB = 1024 * KIB;
const sizes = args.sizes.split(",").map((s) => {
  const m = /^(\d+)([KM])$/i.exec(s.trim());
  if (!m) throw new Error(`bad chunk size '${s}' (use e.g. 64K or 1M)`);
  return Number(m[1]) * (m[2]!.toUpperCase() === "K" ? KIB : MIB);
});
const v1Path = join(corpus, "debian-v1.raw");
const v2Path = join(corpus, "debian-v2.raw");
for (const p of [v1Path, v2Path]) {
  if (!existsSync(p)) {
    console.error(`${p} is missing: run \`npm run setup:test\` (or scripts/corpus.sh) first`);
    process.exit(1);
  }
}

interface Pass {
  chunks: number;
  nonZero: number;
  hashes: Set<string>;
  bytes: number;
  seconds: number;
  /** User + system CPU time of this process during the pass. */
  cpuSeconds: number;
}

/**
 * One pass: read `path` in chunks of `chunkSize`, skip all-zero chunks, hash the others (unless
 * `hash` is false: the read and zero-check cost alone).
 */
async function chunkPass(path: string, chunkSize: number, hash = true): Promise<Pass> {
  const readSize = Math.max(chunkSize, 4 * MIB);
  const buf = Buffer.alloc(readSize);
  const zero = Buffer.alloc(chunkSize);
  const hashes = new Set<string>();
  let chunks = 0;
  let nonZero = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const fh = await open(path, "r");
  try {
    for (;;) {
      let filled = 0;
      while (filled < readSize) {
        const { bytesRead } = await fh.read(buf, filled, readSize - filled, bytes + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      for (let at = 0; at < filled; at += chunkSize) {
        const chunk = buf.subarray(at, Math.min(at + chunkSize, filled));
        chunks++;
        if (chunk.length === chunkSize ? chunk.equals(zero) : chunk.every((b) => b === 0)) continue;
        nonZero++;
        if (hash) hashes.add(createHash("sha256").update(chunk).digest("hex"));
      }
      bytes += filled;
      if (filled < readSize) break;
    }
  } finally {
    await fh.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { chunks, nonZero, hashes, bytes, seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** Wall and CPU time (the child's user + system, from bash's `times`) of `openssl dgst -sha256`. */
function openssl(path: string): { seconds: number; cpuSeconds: number } {
  const started = process.hrtime.bigint();
  const r = spawnSync(
    "bash",
    ["-c", 'openssl dgst -sha256 "$1" >/dev/null && times', "bash", path],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl dgst failed: ${r.stderr}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const children = r.stdout.trim().split("\n").at(-1) ?? "";
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, m) => sum + Number(m[1]) * 60 + Number(m[2]),
    0,
  );
  return { seconds, cpuSeconds };
}

function warm(path: string): void {
  spawnSync("cat", [path], { stdio: ["ignore", "ignore", "inherit"] });
}

const fmtSize = (n: number) =>
  n >= MIB ? `${(n / MIB).toFixed(n % MIB ? 1 : 0)} MiB` : `${(n / KIB).toFixed(0)} KiB`;
const fmtMiB = (n: number) => `${(n / MIB).toFixed(1)} MiB`;

// Warm-up: the page cache (cat) and two untimed passes per file, which settle the timings.
warm(v1Path);
warm(v2Path);
for (const path of [v1Path, v2Path, v1Path, v2Path]) await chunkPass(path, 4 * MIB, false);
const fileBytes = (await stat(v1Path)).size;

// Timed rounds go round-robin over every variant, so that drift in the machine's load falls on
// all of them alike.
const opensslRuns: { seconds: number; cpuSeconds: number }[] = [];
const readOnlyRuns: Pass[] = [];
const v1RunsBySize = new Map<number, Pass[]>(sizes.map((size) => [size, []]));
for (let i = 0; i < rounds; i++) {
  opensslRuns.push(openssl(v1Path));
  readOnlyRuns.push(await chunkPass(v1Path, MIB, false));
  for (const size of sizes) v1RunsBySize.get(size)!.push(await chunkPass(v1Path, size));
}

const rows: string[][] = [];
for (const chunkSize of sizes) {
  const v1Runs = v1RunsBySize.get(chunkSize)!;
  const v1 = v1Runs[0]!;
  const v2 = await chunkPass(v2Path, chunkSize);
  let newChunks = 0;
  for (const h of v2.hashes) if (!v1.hashes.has(h)) newChunks++;
  const best = Math.min(...v1Runs.map((r) => r.seconds));
  const cpu = Math.min(...v1Runs.map((r) => r.cpuSeconds));
  rows.push([
    fmtSize(chunkSize),
    String(v1.nonZero),
    String(v1.hashes.size),
    fmtMiB(v1.hashes.size * chunkSize),
    String(v2.nonZero),
    String(newChunks),
    fmtMiB(newChunks * chunkSize),
    `${best.toFixed(2)} s (${(fileBytes / best / 1e9).toFixed(2)} GB/s)`,
    `${cpu.toFixed(2)} s`,
  ]);
}

const header = [
  "chunk",
  "v1 non-zero chunks",
  "v1 distinct",
  "v1 stored",
  "v2 non-zero chunks",
  "v2 new chunks",
  "v2 new bytes",
  "v1 zero-skip+SHA-256 pass, wall",
  "CPU",
];
const table = [header, header.map(() => "---"), ...rows];
console.log(
  `corpus: ${corpus} (${fmtMiB(fileBytes)} disks), best of ${rounds} round(s), page cache warm, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)}`,
);
for (const r of table) console.log(`| ${r.join(" | ")} |`);
const line = (what: string, runs: { seconds: number; cpuSeconds: number }[]) => {
  const best = Math.min(...runs.map((r) => r.seconds));
  const cpu = Math.min(...runs.map((r) => r.cpuSeconds));
  console.log(
    `${what}: wall ${best.toFixed(2)} s (${(fileBytes / best / 1e9).toFixed(2)} GB/s), CPU ${cpu.toFixed(2)} s`,
  );
};
console.log("");
line("openssl dgst -sha256 debian-v1.raw (whole file, zeros included)", opensslRuns);
line("read + zero-check only, 1 MiB chunks, no hashing", readOnlyRuns);
console.log(
  "stored = distinct non-zero chunks x chunk size (the last chunk counted whole); v2 new = v2's distinct chunks absent from v1.",
);
