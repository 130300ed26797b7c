/**
 * The image-bytes benchmark (`npm run bench:images`), issue "Image bytes" point 12. A real ocg
 * server (child process, built dist/, default settings, fresh data dir) and the corpus disks
 * (.corpus/, `npm run setup:test` builds them). Baselines run in the same script: `openssl dgst
 * -sha256` of debian-v1.raw and `cp --sparse=always` of debian-v2.raw to two directories.
 *
 *  1. publish v1: the v1 disk already uploaded, version PUT until eastus ×2 and westus ×1 are
 *     Completed (goal: < openssl of the raw file; aim 0.5×).
 *  2. v2 after v1: the v2 disk uploaded, version PUT to the same regions until Completed — two
 *     copies leave the source location (goal: ≤ 0.2× cp of v2 to two directories), and the bytes
 *     the store grew by for v2 against v1 (goal ≤ 0.45×).
 *  3. 1,000 concurrent disk creations from one version (goal < 2 s in all).
 *  4. 200 concurrent full downloads of a disk deployed from a version with 4 replicas in its
 *     region (goal: max/min bytes served per replica ≤ 1.15).
 *  5. The server's peak RSS over all of it (goal < 200 MB, whatever the disk size).
 *
 * Repeated phases (1, 2) run `--rounds` times on copies removed between rounds; medians reported,
 * with the server's CPU seconds (user + system) per round, which load on the machine inflates far
 * less than wall time. `--phases 1,2` runs only those (2 and 3 need 1; 5 is always reported).
 *
 * By default every storage location is a directory under the data dir, on one file system, and
 * replication hard-links chunk files: no byte is read or written. `--copies-on DIR` puts the
 * locations the copies go to (eastus-2, westus) on DIR instead — another file system, such as
 * /dev/shm — so that replication reads, verifies and writes every chunk it copies.
 *
 * Usage: npm run bench:images -- [--rounds 3] [--phases 1,2,3,4] [--copies-on DIR] [--skip-build]
 *        [--keep] [--ocg-node-flags=FLAGS]  (extra node flags for the server, e.g. "--cpu-prof")
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { regionsStoringIn } from "../src/config/config.js";
import { createVhdFooter } from "../src/formats/vhd.js";
import {
  armToken,
  build,
  cpuSecondsOf,
  httpsClient,
  memoryOf,
  root,
  startOcg,
  type HttpsClient,
  type OcgChild,
} from "./lib/server.js";
import { median } from "./stats.js";

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: "string", default: "3" },
    phases: { type: "string", default: "1,2,3,4" },
    "skip-build": { type: "boolean", default: false },
    "copies-on": { type: "string" },
    keep: { type: "boolean", default: false },
    "ocg-node-flags": { type: "string", default: "" },
  },
});
const rounds = Number(args.rounds);
const phases = new Set(args.phases.split(",").map(Number));
if ((phases.has(2) || phases.has(3)) && !phases.has(1)) {
  throw new Error("--phases: 2 and 3 need the version that phase 1 publishes");
}
const GOALS = {
  publishOverOpenssl: 1,
  v2OverCp: 0.2,
  growthRatio: 0.45,
  createAllMs: 2000,
  spread: 1.15,
  rssMb: 200,
};
const MIB = 1024 * 1024;
const corpus = join(root, ".corpus");
const GALLERY_API = "2025-03-03";
const DISK_API = "2022-07-02";
const RG = "bench";

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * Writes back every dirty page before a timed round (`sync`), so that a round does not pay for the
 * write-back of what the setup or the previous round left: the 4 GiB uploads, the files a round
 * removed. Replication's directory fsyncs wait for ext4's journal, and a journal commit waits for
 * such data; cp never syncs.
 */
function quiesce(): void {
  if (spawnSync("sync").status !== 0) throw new Error("sync failed");
}

function timeCommand(cmd: string, argv: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return seconds(start);
}

const copiesOn = args["copies-on"] && mkdtempSync(join(args["copies-on"], "ocg-bench-copies-"));

/** The directory of a storage location. */
function locationDir(dataDir: string, location: string): string {
  return copiesOn && COPIES.includes(location)
    ? join(copiesOn, location)
    : join(dataDir, "blobs", location);
}

/** Bytes of chunk files in every storage location. */
function storeBytes(dataDir: string): number {
  let total = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.includes("/chunks/")) total += statSync(p).size;
    }
  };
  for (const dir of [join(dataDir, "blobs"), copiesOn]) if (dir && existsSync(dir)) walk(dir);
  return total;
}

/** The server's regions (the defaults) with the locations COPIES on `copiesOn`, for `--copies-on`. */
function regionsEnv(): Record<string, string> {
  return copiesOn ? { OCG_REGIONS: JSON.stringify(regionsStoringIn(copiesOn, COPIES)) } : {};
}

function chunkFiles(dataDir: string, location: string): Set<string> {
  const dir = join(locationDir(dataDir, location), "chunks");
  try {
    return new Set(
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => join(e.parentPath, e.name)),
    );
  } catch {
    return new Set();
  }
}

/** The parts of ARM answers the benchmark reads. */
interface ArmBody {
  properties?: { provisioningState?: string };
  accessSAS?: string;
  value?: unknown;
}

class Arm {
  constructor(
    readonly http: HttpsClient,
    readonly server: OcgChild,
    private token: string,
  ) {}
  get sub() {
    return `/subscriptions/${this.server.credentials.subscriptionId}`;
  }
  async call(method: string, path: string, body?: unknown, ok = [200, 201, 202, 204]) {
    const a = await this.http.send(
      method,
      `${this.server.url}${path}`,
      body === undefined
        ? { authorization: `Bearer ${this.token}` }
        : { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body === undefined ? undefined : JSON.stringify(body),
    );
    if (!ok.includes(a.status))
      throw new Error(`${method} ${path}: ${a.status} ${a.body.toString().slice(0, 400)}`);
    return (a.body.length ? JSON.parse(a.body.toString()) : {}) as ArmBody;
  }
  versionPath(image: string, name: string) {
    return `${this.sub}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/g/images/${image}/versions/${name}`;
  }
  diskPath(name: string) {
    return `${this.sub}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${name}`;
  }
}

/** Uploads the non-zero 4 MiB pieces of a fixed VHD file (or buffer) to a new Upload disk. */
async function uploadDisk(arm: Arm, name: string, source: string | Buffer, size: number) {
  await arm.call("PUT", `${arm.diskPath(name)}?api-version=${DISK_API}`, {
    location: "eastus",
    properties: { creationData: { createOption: "Upload", uploadSizeBytes: size } },
  });
  const grant = await arm.call(
    "POST",
    `${arm.diskPath(name)}/beginGetAccess?api-version=${DISK_API}`,
    {
      access: "Write",
      durationInSeconds: 3600,
    },
  );
  const sas = grant.accessSAS as string;
  const piece = Buffer.alloc(4 * MIB);
  const zeros = Buffer.alloc(piece.length);
  const fd = typeof source === "string" ? openSync(source, "r") : undefined;
  for (let at = 0; at < size; at += piece.length) {
    const n = Math.min(piece.length, size - at);
    if (fd !== undefined) readSync(fd, piece, 0, n, at);
    else (source as Buffer).copy(piece, 0, at, at + n);
    const data = piece.subarray(0, n);
    if (data.equals(zeros.subarray(0, n))) continue;
    const a = await arm.http.send(
      "PUT",
      `${sas}&comp=page`,
      {
        "x-ms-page-write": "update",
        "x-ms-range": `bytes=${at}-${at + n - 1}`,
        "x-ms-version": "2021-12-02",
      },
      data,
    );
    if (a.status !== 201) throw new Error(`Put Page: ${a.status} ${a.body.toString()}`);
  }
  await arm.call("POST", `${arm.diskPath(name)}/endGetAccess?api-version=${DISK_API}`);
  return `${arm.diskPath(name)}`;
}

/**
 * PUT a version and wait until it has Succeeded; seconds from the PUT. It polls every 5 ms: a
 * version of v2 completes in ~50 ms, and a coarser poll would add half its interval on average.
 */
async function publish(arm: Arm, image: string, name: string, diskId: string, regions: object[]) {
  const start = process.hrtime.bigint();
  await arm.call("PUT", `${arm.versionPath(image, name)}?api-version=${GALLERY_API}`, {
    location: "eastus",
    properties: {
      publishingProfile: { targetRegions: regions },
      storageProfile: { osDiskImage: { source: { id: diskId } } },
    },
  });
  for (;;) {
    const v = await arm.call("GET", `${arm.versionPath(image, name)}?api-version=${GALLERY_API}`);
    const state = v.properties?.provisioningState;
    if (state === "Succeeded") return seconds(start);
    if (state === "Failed") throw new Error(`version ${name} failed`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const POLL_MS = 5;
const TARGETS = [{ name: "eastus", regionalReplicaCount: 2 }, { name: "westus" }];
/** Where TARGETS puts copies outside the source disk's location (eastus-1). */
const COPIES = ["eastus-2", "westus"];

/**
 * Publishes `rounds` versions `<prefix>.<r>` of a disk; between rounds the version is deleted and
 * the chunk files its copies added are removed, so every round copies as much. Returns the
 * times, the server's CPU seconds, and how much the store grew in the first round (from `before`).
 */
async function publishRounds(
  arm: Arm,
  dataDir: string,
  prefix: string,
  diskId: string,
  before: number,
) {
  const times: number[] = [];
  const cpu: number[] = [];
  let growth = 0;
  const cpuNow = () => {
    const { user, system } = cpuSecondsOf(arm.server.process.pid!);
    return user + system;
  };
  for (let r = 0; r < rounds; r++) {
    const existing = new Map(COPIES.map((l) => [l, chunkFiles(dataDir, l)]));
    quiesce();
    const cpuBefore = cpuNow();
    times.push(await publish(arm, "debian", `${prefix}.${r}`, diskId, TARGETS));
    cpu.push(cpuNow() - cpuBefore);
    if (r === 0) growth = storeBytes(dataDir) - before;
    if (r < rounds - 1) {
      await arm.call(
        "DELETE",
        `${arm.versionPath("debian", `${prefix}.${r}`)}?api-version=${GALLERY_API}`,
      );
      for (const l of COPIES) {
        for (const f of chunkFiles(dataDir, l)) if (!existing.get(l)!.has(f)) rmSync(f);
      }
    }
  }
  return { times, cpu, growth };
}

async function main() {
  if (!args["skip-build"]) await build();
  const dataDir = mkdtempSync(join(tmpdir(), "ocg-bench-images-"));
  const scratch = mkdtempSync(join(tmpdir(), "ocg-bench-cp-"));
  const results: Record<string, unknown> = {};
  const server = await startOcg(
    dataDir,
    regionsEnv(),
    args["ocg-node-flags"].split(" ").filter(Boolean),
  );
  const http = httpsClient(server.ca, 256);
  let peakRss = 0;
  // The highest RSS sampled during each phase (VmHWM only knows the whole run).
  let phase = "setup";
  const phasePeaks: Record<string, number> = {};
  const sampler = setInterval(() => {
    try {
      const m = memoryOf(server.process.pid!);
      peakRss = Math.max(peakRss, m.peakRssMb);
      phasePeaks[phase] = Math.max(phasePeaks[phase] ?? 0, m.rssMb);
    } catch {
      /* exited */
    }
  }, 100);
  try {
    const arm = new Arm(http, server, await armToken(http, server));
    await arm.call("PUT", `${arm.sub}/resourcegroups/${RG}?api-version=2021-04-01`, {
      location: "eastus",
    });
    await arm.call(
      "PUT",
      `${arm.sub}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/g?api-version=${GALLERY_API}`,
      { location: "eastus" },
    );
    for (const image of ["debian", "small"]) {
      await arm.call(
        "PUT",
        `${arm.sub}/resourceGroups/${RG}/providers/Microsoft.Compute/galleries/g/images/${image}?api-version=${GALLERY_API}`,
        {
          location: "eastus",
          properties: {
            osType: "Linux",
            osState: "Generalized",
            hyperVGeneration: "V2",
            identifier: { publisher: "p", offer: image, sku: "s" },
          },
        },
      );
    }

    const load = () =>
      loadavg()
        .map((l) => l.toFixed(1))
        .join(" ");
    const goals: Record<string, { value: number; goal: string; pass: boolean }> = {};
    const cpuList = (xs: number[]) => xs.map((c) => c.toFixed(2)).join(", ");
    Object.assign(results, {
      rounds,
      phases: [...phases],
      copiesOn: args["copies-on"] ?? null,
      loadBefore: load(),
    });
    console.log(`load average before: ${load()}`);
    if (copiesOn) console.log(`copies (${COPIES.join(", ")}) on ${copiesOn}`);

    if (phases.has(1)) {
      const opensslS = median(
        Array.from({ length: rounds }, () =>
          timeCommand("openssl", ["dgst", "-sha256", join(corpus, "debian-v1.raw")]),
        ),
      );
      console.log(`baseline: openssl dgst -sha256 v1.raw ${opensslS.toFixed(2)} s`);

      // 1. Publish v1.
      phase = "upload v1";
      const vhdSize = statSync(join(corpus, "debian-v1.vhd")).size;
      const start = process.hrtime.bigint();
      const cpuBefore = cpuSecondsOf(server.process.pid!);
      const before = storeBytes(dataDir);
      const v1 = await uploadDisk(arm, "v1", join(corpus, "debian-v1.vhd"), vhdSize);
      const cpuAfter = cpuSecondsOf(server.process.pid!);
      const uploadV1S = seconds(start);
      const uploadV1Cpu = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
      console.log(
        `upload v1 (setup): ${uploadV1S.toFixed(2)} s, server CPU ${uploadV1Cpu.toFixed(2)} s`,
      );
      phase = "publish v1";
      const {
        times: publishS,
        cpu: publishCpu,
        growth: growthV1,
      } = await publishRounds(arm, dataDir, "1.0", v1, before);
      const publishMedian = median(publishS);
      console.log(
        `publish v1 (eastus ×2, westus ×1): ${publishS.map((s) => s.toFixed(2)).join(", ")} s → median ${publishMedian.toFixed(2)} s = ${(publishMedian / opensslS).toFixed(2)}× openssl; server CPU ${cpuList(publishCpu)} s; load ${load()}`,
      );
      goals.publish = {
        value: publishMedian / opensslS,
        goal: `< ${GOALS.publishOverOpenssl}× openssl`,
        pass: publishMedian / opensslS < GOALS.publishOverOpenssl,
      };
      Object.assign(results, { opensslS, uploadV1S, uploadV1Cpu, publishS, publishCpu, growthV1 });

      if (phases.has(2)) {
        const cpS = median(
          Array.from({ length: rounds }, () => {
            rmSync(scratch, { recursive: true, force: true });
            mkdirSync(join(scratch, "a"), { recursive: true });
            mkdirSync(join(scratch, "b"), { recursive: true });
            quiesce();
            const start = process.hrtime.bigint();
            for (const d of ["a", "b"])
              timeCommand("cp", [
                "--sparse=always",
                join(corpus, "debian-v2.raw"),
                join(scratch, d),
              ]);
            return seconds(start);
          }),
        );
        console.log(`baseline: cp --sparse=always v2.raw ×2 ${cpS.toFixed(2)} s`);

        // 2. v2 after v1.
        phase = "upload v2";
        const start = process.hrtime.bigint();
        const beforeV2 = storeBytes(dataDir);
        const v2 = await uploadDisk(arm, "v2", join(corpus, "debian-v2.vhd"), vhdSize);
        console.log(`upload v2 (setup): ${seconds(start).toFixed(2)} s`);
        phase = "replicate v2";
        const {
          times: v2S,
          cpu: v2Cpu,
          growth: growthV2,
        } = await publishRounds(arm, dataDir, "2.0", v2, beforeV2);
        const v2Median = median(v2S);
        console.log(
          `replicate v2 after v1: ${v2S.map((s) => s.toFixed(3)).join(", ")} s → median ${v2Median.toFixed(3)} s = ${(v2Median / cpS).toFixed(2)}× cp ×2; server CPU ${cpuList(v2Cpu)} s; load ${load()}`,
        );
        console.log(
          `store growth: v1 ${(growthV1 / MIB).toFixed(0)} MiB, v2 ${(growthV2 / MIB).toFixed(0)} MiB → ${(growthV2 / growthV1).toFixed(2)}×`,
        );
        goals.v2 = {
          value: v2Median / cpS,
          goal: `≤ ${GOALS.v2OverCp}× cp`,
          pass: v2Median / cpS <= GOALS.v2OverCp,
        };
        goals.growth = {
          value: growthV2 / growthV1,
          goal: `≤ ${GOALS.growthRatio}`,
          pass: growthV2 / growthV1 <= GOALS.growthRatio,
        };
        Object.assign(results, { cpS, v2S, v2Cpu, growthV2 });
      }
    }

    if (phases.has(3)) {
      // 3. 1,000 concurrent disk creations from one version.
      phase = "1,000 creations";
      const versionId = arm.versionPath("debian", `1.0.${rounds - 1}`);
      const cpuBefore = cpuSecondsOf(server.process.pid!);
      const start = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          arm.call("PUT", `${arm.diskPath(`deploy-${i}`)}?api-version=${DISK_API}`, {
            location: "eastus",
            properties: {
              creationData: {
                createOption: "FromImage",
                galleryImageReference: { id: versionId },
              },
            },
          }),
        ),
      );
      const createAllS = seconds(start);
      const cpuAfter = cpuSecondsOf(server.process.pid!);
      const createAllCpu = cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system;
      console.log(
        `1,000 concurrent disk creations: ${createAllS.toFixed(2)} s, server CPU ${createAllCpu.toFixed(2)} s; load ${load()}`,
      );
      goals.createAll = {
        value: createAllS,
        goal: "< 2 s",
        pass: createAllS * 1000 < GOALS.createAllMs,
      };
      Object.assign(results, { createAllS, createAllCpu });
    }

    if (phases.has(4)) {
      // 4. 200 concurrent downloads over 4 replicas.
      phase = "200 downloads";
      const smallSize = 32 * MIB;
      const small = Buffer.alloc(smallSize + 512);
      randomBytes(smallSize).copy(small);
      createVhdFooter(smallSize).copy(small, smallSize);
      const smallDisk = await uploadDisk(arm, "small-src", small, small.length);
      await publish(arm, "small", "1.0.0", smallDisk, [
        { name: "eastus" },
        { name: "westus", regionalReplicaCount: 4 },
      ]);
      await arm.call("PUT", `${arm.diskPath("reader")}?api-version=${DISK_API}`, {
        location: "westus",
        properties: {
          creationData: {
            createOption: "FromImage",
            galleryImageReference: { id: arm.versionPath("small", "1.0.0") },
          },
        },
      });
      const grant = await arm.call(
        "POST",
        `${arm.diskPath("reader")}/beginGetAccess?api-version=${DISK_API}`,
        { access: "Read", durationInSeconds: 3600 },
      );
      const start = process.hrtime.bigint();
      const downloads = await Promise.all(
        Array.from({ length: 200 }, () => http.drain(grant.accessSAS as string)),
      );
      const downloadS = seconds(start);
      if (downloads.some((d) => d.status !== 200 || d.bytes !== small.length))
        throw new Error("a download failed");
      const replicaLoad = (
        await arm.call("GET", `/providers/Microsoft.Ocg/replicaLoad?api-version=2026-01-01`)
      ).value as { replica: string; bytesServed: number }[];
      const served = replicaLoad
        .filter((l) => l.replica.includes("|westus|"))
        .map((l) => l.bytesServed);
      const spread = Math.max(...served) / Math.min(...served);
      console.log(
        `200 downloads of ${(small.length / MIB).toFixed(0)} MiB: ${downloadS.toFixed(2)} s (${((200 * small.length) / MIB / downloadS).toFixed(0)} MiB/s); bytes per replica ${served.map((b) => (b / MIB).toFixed(0)).join(", ")} MiB → max/min ${spread.toFixed(3)}`,
      );
      goals.spread = { value: spread, goal: `≤ ${GOALS.spread}`, pass: spread <= GOALS.spread };
      Object.assign(results, { downloadS, served });
    }

    peakRss = Math.max(peakRss, memoryOf(server.process.pid!).peakRssMb);
    goals.rss = { value: peakRss, goal: `< ${GOALS.rssMb} MB`, pass: peakRss < GOALS.rssMb };
    console.log(
      `server peak RSS: ${peakRss.toFixed(0)} MB; highest RSS sampled per phase (MB): ${Object.entries(
        phasePeaks,
      )
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(", ")}`,
    );
    for (const [name, g] of Object.entries(goals)) {
      console.log(`${g.pass ? "PASS" : "FAIL"} ${name}: ${g.value.toFixed(3)} (goal ${g.goal})`);
    }
    console.log(`load average after: ${load()}`);
    Object.assign(results, { peakRss, phasePeaks, goals, loadAfter: load() });
    mkdirSync(join(root, "bench", "results"), { recursive: true });
    const file = join(
      root,
      "bench",
      "results",
      `images-${new Date().toISOString().replace(/[:.]/g, "-")}.json`,
    );
    writeFileSync(file, JSON.stringify(results, null, 2));
    console.log(`results: ${file}`);
  } finally {
    clearInterval(sampler);
    http.close();
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
    if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
    if (!args.keep && copiesOn) rmSync(copiesOn, { recursive: true, force: true });
  }
}

await main();
