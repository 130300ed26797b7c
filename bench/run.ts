/**
 * The Foundation benchmark (`npm run bench`). Starts a real ocg server as a child process (built
 * from src into dist/, fresh data dir, its own generated TLS), seeds 10,000 image definitions
 * through the ARM API, then drives three targets with autocannon in interleaved rounds: GET of one
 * image definition, a one-page list of 1,000 image definitions, and a bare Fastify HTTPS route
 * (the baseline, also a child process, same certificate). Reports medians, the ratio GET/bare and
 * the server's RSS, checks the goals (never fails on them), and writes
 * bench/results/<timestamp>.json. See BENCHMARKS.md.
 *
 * Usage: npm run bench -- [--rounds 5] [--duration 10] [--warmup 3] [--connections 10]
 *          [--galleries 10] [--images 1000] [--seed-concurrency 8] [--skip-build]
 *          [--profile] [--keep] [--ocg-node-flags=FLAGS]  (FLAGS: extra node flags for ocg)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import {
  build,
  cpuSecondsOf,
  httpsClient,
  memoryOf,
  ocgCommand,
  type Answer,
  type Memory,
} from "./lib/server.js";
import { formatSummary, readProfile, summarize, type ProfileSummary } from "./profile.js";
import { median } from "./stats.js";

const root = resolve(import.meta.dirname, "..");

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: "string", default: "5" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "10" },
    galleries: { type: "string", default: "10" },
    images: { type: "string", default: "1000" },
    "seed-concurrency": { type: "string", default: "8" },
    "skip-build": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    "ocg-node-flags": { type: "string", default: "" },
  },
  strict: true,
});
const positive = (name: keyof typeof args) => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const settings = {
  rounds: positive("rounds"),
  durationSeconds: positive("duration"),
  warmupSeconds: positive("warmup"),
  connections: positive("connections"),
  galleries: positive("galleries"),
  imagesPerGallery: positive("images"),
  seedConcurrency: positive("seed-concurrency"),
};

const GOALS = { getOverBare: 0.5, getP99Ms: 10, rssMb: 150 };
const GALLERY_API = "2024-03-03";
const RESOURCES_API = "2021-04-01";
const LOCATION = "eastus";
const GROUP = "bench";

// ---- child processes ------------------------------------------------------------------------

interface Child {
  name: string;
  process: ChildProcess;
  output: string[];
}

const children: Child[] = [];

/** Spawns a server and resolves with the first stdout line matching `ready`. */
function startChild(
  name: string,
  argv: string[],
  ready: RegExp,
): Promise<[Child, RegExpExecArray]> {
  const child: Child = {
    name,
    process: spawn(process.execPath, argv, { cwd: root, stdio: ["ignore", "pipe", "pipe"] }),
    output: [],
  };
  children.push(child);
  const keep = (line: string) => {
    child.output.push(line);
    if (child.output.length > 50) child.output.shift();
  };
  // Both pipes are drained for the whole run: a full pipe would stall the server.
  createInterface({ input: child.process.stderr! }).on("line", keep);
  const lines = createInterface({ input: child.process.stdout! });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(new Error("did not start within 60 s")), 60_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${err.message}\n${child.output.join("\n")}`));
    };
    child.process.once("exit", (code) => fail(new Error(`exited with ${code} before ready`)));
    child.process.once("error", fail);
    lines.on("line", (line) => {
      keep(line);
      const match = ready.exec(line);
      if (match) {
        clearTimeout(timer);
        child.process.removeAllListeners("exit");
        resolvePromise([child, match]);
      }
    });
  });
}

async function stopChild(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.process.once("exit", () => r()));
  child.process.kill("SIGTERM");
  const timer = setTimeout(() => child.process.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function stopAllNow() {
  for (const c of children) if (c.process.exitCode === null) c.process.kill("SIGKILL");
}
process.once("SIGINT", () => {
  stopAllNow();
  process.exit(130);
});

// ---- /proc ----------------------------------------------------------------------------------

// ---- HTTPS client for seeding ---------------------------------------------------------------

/** The shared HTTPS client, with paths relative to the server's base URL. */
function makeClient(base: string, ca: string, maxSockets: number) {
  const http = httpsClient(ca, maxSockets);
  return {
    send: (method: string, path: string, headers: Record<string, string>, body?: string) =>
      http.send(method, new URL(path, base).toString(), headers, body),
    close: http.close,
  };
}

type Client = ReturnType<typeof makeClient>;

async function expectStatus(answer: Promise<Answer>, expected: number[], what: string) {
  const a = await answer;
  if (!expected.includes(a.status)) {
    throw new Error(`${what}: HTTP ${a.status} ${a.body.toString().slice(0, 500)}`);
  }
  return a;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function bounded<T>(items: T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---- load -----------------------------------------------------------------------------------

type Target = "bare" | "get" | "list";

interface Measurement {
  target: Target;
  round: number;
  requestsPerSecond: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  bytesPerSecond: number;
  requests: number;
  errors: number;
  non2xx: number;
  /** CPU the target server used during the run, in cores (1 = one core fully busy). */
  serverCpuCores: number;
  /**
   * Server CPU time per answered request, in µs: the cost of a request, which other processes on
   * the machine disturb far less than they disturb req/s.
   */
  serverCpuMicrosPerRequest: number;
  /** The share of that CPU time spent in the kernel (system calls: the network, file locks). */
  serverSystemShare: number;
  /** The target server's memory right after the run. */
  serverMemory: Memory;
  /** CPU the load generator (this process) used during the run, in cores. */
  loadgenCpuCores: number;
  /** Monotonic clock (µs) at start and end, to cut the server's CPU profile. */
  window: { fromMicros: number; toMicros: number };
}

interface TargetSpec {
  url: string;
  headers: Record<string, string>;
  pid: number;
}

const micros = () => Number(process.hrtime.bigint() / 1000n);

async function drive(spec: TargetSpec, ca: string, seconds: number) {
  return autocannon({
    url: spec.url,
    headers: spec.headers,
    connections: settings.connections,
    duration: seconds,
    tlsOptions: { ca },
  });
}

async function measure(target: Target, round: number, spec: TargetSpec, ca: string) {
  await drive(spec, ca, settings.warmupSeconds);
  const cpu0 = cpuSecondsOf(spec.pid);
  const own0 = process.cpuUsage();
  const from = micros();
  const r = await drive(spec, ca, settings.durationSeconds);
  const to = micros();
  const wall = (to - from) / 1e6;
  const cpu1 = cpuSecondsOf(spec.pid);
  const serverCpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  const own = process.cpuUsage(own0);
  const m: Measurement = {
    target,
    round,
    requestsPerSecond: r.requests.average,
    latencyMs: {
      mean: r.latency.average,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
    },
    bytesPerSecond: r.throughput.average,
    requests: r.requests.total,
    errors: r.errors,
    non2xx: r.non2xx,
    serverCpuCores: serverCpu / wall,
    serverCpuMicrosPerRequest: (serverCpu * 1e6) / r.requests.total,
    serverSystemShare: serverCpu > 0 ? (cpu1.system - cpu0.system) / serverCpu : 0,
    serverMemory: memoryOf(spec.pid),
    loadgenCpuCores: (own.user + own.system) / 1e6 / wall,
    window: { fromMicros: from, toMicros: to },
  };
  return m;
}

// ---- statistics -----------------------------------------------------------------------------

function medians(ms: Measurement[]) {
  return {
    requestsPerSecond: median(ms.map((m) => m.requestsPerSecond)),
    latencyMs: {
      mean: median(ms.map((m) => m.latencyMs.mean)),
      p50: median(ms.map((m) => m.latencyMs.p50)),
      p90: median(ms.map((m) => m.latencyMs.p90)),
      p99: median(ms.map((m) => m.latencyMs.p99)),
    },
    bytesPerSecond: median(ms.map((m) => m.bytesPerSecond)),
    serverCpuCores: median(ms.map((m) => m.serverCpuCores)),
    serverCpuMicrosPerRequest: median(ms.map((m) => m.serverCpuMicrosPerRequest)),
    serverSystemShare: median(ms.map((m) => m.serverSystemShare)),
    loadgenCpuCores: median(ms.map((m) => m.loadgenCpuCores)),
    minRequestsPerSecond: Math.min(...ms.map((m) => m.requestsPerSecond)),
    maxRequestsPerSecond: Math.max(...ms.map((m) => m.requestsPerSecond)),
  };
}

const log = (line: string) => process.stdout.write(`${line}\n`);

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const resultsDir = join(root, "bench", "results");
  mkdirSync(resultsDir, { recursive: true });

  if (!args["skip-build"]) {
    log("building dist/ as npm run build does (tsc -p tsconfig.build.json, then the bundle) …");
    await build();
  }

  const dataDir = mkdtempSync(join(tmpdir(), "ocg-bench-"));
  const total = settings.galleries * settings.imagesPerGallery;
  // Default configuration except the port (0, below) and a quota with room for the seed.
  const configFile = join(dataDir, "bench-config.json");
  writeFileSync(
    configFile,
    JSON.stringify({ limits: { imageDefinitionsPerRegion: Math.max(1000, total) } }),
  );
  const profileDir = join(resultsDir, `${stamp}-profile`);
  const nodeFlags = (server: string) =>
    args.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, server)}`] : [];

  try {
    log(`starting ocg (as npm start: ${ocgCommand().join(" ")}) in ${dataDir} …`);
    const [ocg, listening] = await startChild(
      "ocg",
      [
        ...nodeFlags("ocg"),
        ...args["ocg-node-flags"].split(" ").filter(Boolean),
        ...ocgCommand(),
        "start",
        "--data-dir",
        dataDir,
        "--port",
        "0",
        "--config",
        configFile,
      ],
      /^ocg listening on https:\/\/[^:]+:(\d+)/,
    );
    const port = Number(listening[1]);
    const base = `https://127.0.0.1:${port}`;
    const ocgPid = ocg.process.pid!;
    const memoryAtStart = memoryOf(ocgPid);
    const credentials = JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8")) as {
      tenantId: string;
      subscriptionId: string;
      clientId: string;
      clientSecret: string;
    };
    const ca = readFileSync(join(dataDir, "tls", "ca.pem"), "utf8");
    const client: Client = makeClient(base, ca, settings.seedConcurrency);

    const tokenAnswer = await expectStatus(
      client.send(
        "POST",
        `/${credentials.tenantId}/oauth2/v2.0/token`,
        { "content-type": "application/x-www-form-urlencoded" },
        new URLSearchParams({
          grant_type: "client_credentials",
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
          scope: "https://management.azure.com/.default",
        }).toString(),
      ),
      [200],
      "token",
    );
    const token = (JSON.parse(tokenAnswer.body.toString()) as { access_token: string })
      .access_token;
    const auth = { authorization: `Bearer ${token}`, accept: "application/json" };
    const json = { ...auth, "content-type": "application/json" };
    const group = `/subscriptions/${credentials.subscriptionId}/resourceGroups/${GROUP}`;
    const galleryPath = (g: number) =>
      `${group}/providers/Microsoft.Compute/galleries/gallery${String(g).padStart(2, "0")}`;
    const imageName = (i: number) => `image-${String(i).padStart(5, "0")}`;

    log(
      `seeding ${settings.galleries} galleries × ${settings.imagesPerGallery} image definitions ` +
        `(${settings.seedConcurrency} in flight) …`,
    );
    const seedStart = performance.now();
    await expectStatus(
      client.send(
        "PUT",
        `${group}?api-version=${RESOURCES_API}`,
        json,
        JSON.stringify({ location: LOCATION }),
      ),
      [201],
      "resource group",
    );
    const galleries = Array.from({ length: settings.galleries }, (_, g) => g);
    await bounded(galleries, settings.seedConcurrency, async (g) => {
      await expectStatus(
        client.send(
          "PUT",
          `${galleryPath(g)}?api-version=${GALLERY_API}`,
          json,
          JSON.stringify({ location: LOCATION, properties: { description: "benchmark gallery" } }),
        ),
        [201],
        `gallery ${g}`,
      );
    });
    const images = galleries.flatMap((g) =>
      Array.from({ length: settings.imagesPerGallery }, (_, i) => [g, i] as const),
    );
    await bounded(images, settings.seedConcurrency, async ([g, i]) => {
      await expectStatus(
        client.send(
          "PUT",
          `${galleryPath(g)}/images/${imageName(i)}?api-version=${GALLERY_API}`,
          json,
          JSON.stringify({
            location: LOCATION,
            tags: { purpose: "benchmark" },
            properties: {
              description: `Benchmark image definition ${i} of gallery ${g}`,
              osType: "Linux",
              osState: "Generalized",
              hyperVGeneration: "V2",
              architecture: "x64",
              identifier: { publisher: "ocg-bench", offer: `offer-${g}`, sku: `sku-${i}` },
              features: [{ name: "SecurityType", value: "TrustedLaunchSupported" }],
            },
          }),
        ),
        [201],
        `image ${g}/${i}`,
      );
    });
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const seeded = 1 + settings.galleries + images.length;
    log(
      `seeded ${seeded} resources in ${seedSeconds.toFixed(1)} s (${(seeded / seedSeconds).toFixed(0)} PUT/s)`,
    );
    const memoryAfterSeed = memoryOf(ocgPid);

    // The targets, checked once before they are timed.
    const middle = Math.floor(settings.galleries / 2);
    const getUrl = `${base}${galleryPath(middle)}/images/${imageName(Math.floor(settings.imagesPerGallery / 2))}?api-version=${GALLERY_API}`;
    const listUrl = `${base}${galleryPath(middle)}/images?api-version=${GALLERY_API}`;
    const getAnswer = await expectStatus(client.send("GET", getUrl, auth), [200], "GET check");
    const listAnswer = await expectStatus(client.send("GET", listUrl, auth), [200], "list check");
    const listed = JSON.parse(listAnswer.body.toString()) as {
      value: unknown[];
      nextLink?: string;
    };
    if (listed.value.length !== Math.min(1000, settings.imagesPerGallery)) {
      throw new Error(`list check: ${listed.value.length} items, nextLink ${listed.nextLink}`);
    }
    client.close();

    log("starting the bare Fastify HTTPS baseline …");
    const [bare, bareListening] = await startChild(
      "bare",
      [
        ...nodeFlags("bare"),
        "--import",
        "tsx",
        join(root, "bench", "bare-server.ts"),
        join(dataDir, "tls", "server.pem"),
        join(dataDir, "tls", "server-key.pem"),
      ],
      /^listening (\d+)/,
    );
    const specs: Record<Target, TargetSpec> = {
      bare: {
        url: `https://127.0.0.1:${bareListening[1]}/bare`,
        headers: {},
        pid: bare.process.pid!,
      },
      get: { url: getUrl, headers: auth, pid: ocgPid },
      list: { url: listUrl, headers: auth, pid: ocgPid },
    };

    const targets: Target[] = ["bare", "get", "list"];
    const measurements: Measurement[] = [];
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotate the order so that no target always runs first or last.
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!);
      for (const target of order) {
        const m = await measure(target, round, specs[target], ca);
        measurements.push(m);
        log(
          `round ${round}/${settings.rounds} ${target.padEnd(4)} ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s` +
            `  p50 ${m.latencyMs.p50} ms  p99 ${m.latencyMs.p99} ms` +
            `  server ${m.serverCpuCores.toFixed(2)} cores, ${m.serverCpuMicrosPerRequest.toFixed(0)} µs/req (${(m.serverSystemShare * 100).toFixed(0)}% kernel)` +
            `, loadgen ${m.loadgenCpuCores.toFixed(2)} cores, RSS ${m.serverMemory.rssMb.toFixed(0)} MB` +
            (m.errors || m.non2xx ? `  errors ${m.errors}, non-2xx ${m.non2xx}` : ""),
        );
      }
    }
    const memoryAfterLoad = memoryOf(ocgPid);
    const bareMemory = memoryOf(bare.process.pid!);

    const of = (t: Target) => measurements.filter((m) => m.target === t);
    const summary = {
      bare: medians(of("bare")),
      get: medians(of("get")),
      list: medians(of("list")),
    };
    // The ratio pair by pair (same round), so that drift of the machine's speed cancels out.
    const ratios = of("get").map((g) => {
      const b = of("bare").find((m) => m.round === g.round)!;
      return g.requestsPerSecond / b.requestsPerSecond;
    });
    const getOverBare = median(ratios);
    // The same ratio in CPU cost per request (bare µs / GET µs): what it would be if the server
    // alone were the bottleneck.
    const cpuRatios = of("get").map((g) => {
      const b = of("bare").find((m) => m.round === g.round)!;
      return b.serverCpuMicrosPerRequest / g.serverCpuMicrosPerRequest;
    });
    const failures = measurements.filter((m) => m.errors > 0 || m.non2xx > 0);
    const goals = {
      getThroughput: {
        goal: `GET req/s ≥ ${GOALS.getOverBare} × bare`,
        value: getOverBare,
        met: getOverBare >= GOALS.getOverBare,
      },
      getP99: {
        goal: `GET p99 < ${GOALS.getP99Ms} ms`,
        value: summary.get.latencyMs.p99,
        met: summary.get.latencyMs.p99 < GOALS.getP99Ms,
      },
      rss: {
        goal: `server RSS < ${GOALS.rssMb} MB (peak over the whole run)`,
        value: memoryAfterLoad.peakRssMb,
        met: memoryAfterLoad.peakRssMb < GOALS.rssMb,
      },
    };

    await stopChild(bare);
    await stopChild(ocg);

    let profiles: Record<string, ProfileSummary> | undefined;
    if (args.profile) {
      const profileOf = (server: string) => {
        const dir = join(profileDir, server);
        const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
        if (!file) throw new Error(`no CPU profile in ${dir}`);
        log(`${server} profile: ${join(dir, file)}`);
        return readProfile(join(dir, file));
      };
      const serverProfiles = { ocg: profileOf("ocg"), bare: profileOf("bare") };
      // Only the samples taken during the target's own timed runs count.
      profiles = {};
      for (const t of targets) {
        const profile = serverProfiles[t === "bare" ? "bare" : "ocg"];
        profiles[t] = mergeSummaries(of(t).map((m) => summarize(profile, m.window, 1000)));
        const perRequest = profiles[t].busyMs / of(t).reduce((a, m) => a + m.requests, 0);
        log(
          "\n" +
            formatSummary(
              `profile of ${t} (${(perRequest * 1000).toFixed(0)} µs/req)`,
              profiles[t],
            ),
        );
      }
    }

    const result = {
      benchmark: "foundation",
      startedAt: startedAt.toISOString(),
      machine: {
        nproc: cpus().length,
        cpu: cpus()[0]?.model ?? "unknown",
        memoryGb: totalmem() / 1024 ** 3,
        node: process.version,
        kernel: release(),
        // Other processes' load (1, 5, 15 min): the machine is shared, this says how much.
        loadAverage: { atStart: loadAtStart, atEnd: loadavg() },
      },
      settings: { ...settings, galleryApiVersion: GALLERY_API, profiled: args.profile },
      seed: { resources: seeded, seconds: seedSeconds, putsPerSecond: seeded / seedSeconds },
      memory: {
        atStart: memoryAtStart,
        afterSeed: memoryAfterSeed,
        afterLoad: memoryAfterLoad,
        bareAfterLoad: bareMemory,
      },
      responseBytes: {
        get: getAnswer.body.length,
        list: listAnswer.body.length,
      },
      medians: summary,
      getOverBare: { median: getOverBare, perRound: ratios },
      getOverBareByCpuCost: { median: median(cpuRatios), perRound: cpuRatios },
      goals,
      invalidRuns: failures.length,
      measurements,
      profiles,
    };
    const resultFile = join(resultsDir, `${stamp}.json`);
    writeFileSync(resultFile, JSON.stringify(result, null, 2) + "\n");

    printSummary(result);
    if (args.profile) log("NOTE: profiled run: the profiler's overhead inflates every figure");
    if (failures.length) log(`WARNING: ${failures.length} runs had errors or non-2xx answers`);
    log(`\nresults: ${resultFile}`);
  } finally {
    stopAllNow();
    if (!args.keep) rmSync(dataDir, { recursive: true, force: true });
    else log(`data dir kept: ${dataDir}`);
  }
}

/** Adds per-run profile summaries up (they were cut with a high `top`, so little is lost). */
function mergeSummaries(runs: ProfileSummary[]): ProfileSummary {
  const busy = runs.reduce((a, r) => a + r.busyMs, 0);
  const add = (pick: (r: ProfileSummary) => { name: string; ms: number }[]) => {
    const m = new Map<string, number>();
    for (const r of runs) for (const e of pick(r)) m.set(e.name, (m.get(e.name) ?? 0) + e.ms);
    return [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([name, ms]) => ({ name, ms, share: busy ? ms / busy : 0 }));
  };
  return {
    busyMs: busy,
    idleMs: runs.reduce((a, r) => a + r.idleMs, 0),
    byArea: add((r) => r.byArea.map((e) => ({ name: e.area, ms: e.selfMs }))).map((e) => ({
      area: e.name,
      selfMs: e.ms,
      share: e.share,
    })),
    selfTop: add((r) => r.selfTop.map((e) => ({ name: e.fn, ms: e.selfMs }))).map((e) => ({
      fn: e.name,
      selfMs: e.ms,
      share: e.share,
    })),
    inclusiveTop: add((r) => r.inclusiveTop.map((e) => ({ name: e.fn, ms: e.totalMs }))).map(
      (e) => ({ fn: e.name, totalMs: e.ms, share: e.share }),
    ),
  };
}

function printSummary(r: {
  machine: {
    nproc: number;
    cpu: string;
    memoryGb: number;
    node: string;
    loadAverage: { atStart: number[] };
  };
  settings: typeof settings;
  seed: { resources: number; seconds: number };
  medians: Record<Target, ReturnType<typeof medians>>;
  getOverBare: { median: number };
  getOverBareByCpuCost: { median: number };
  memory: Record<"atStart" | "afterSeed" | "afterLoad", Memory>;
  goals: Record<string, { goal: string; value: number; met: boolean }>;
}) {
  const s = r.settings;
  log(
    `\nFoundation benchmark — ${r.machine.nproc} × ${r.machine.cpu}, ${r.machine.memoryGb.toFixed(0)} GB, node ${r.machine.node}` +
      ` (load average before the run: ${r.machine.loadAverage.atStart.map((l) => l.toFixed(1)).join(", ")})`,
  );
  log(
    `${s.rounds} rounds × ${s.durationSeconds} s per target (after ${s.warmupSeconds} s warm-up), ` +
      `${s.connections} connections; ${r.seed.resources} resources seeded in ${r.seed.seconds.toFixed(1)} s; medians:\n`,
  );
  const rows = [
    ["target", "req/s", "(min–max)", "p50 ms", "p99 ms", "mean ms", "server cores", "µs CPU/req"],
    ...(["bare", "get", "list"] as const).map((t) => {
      const m = r.medians[t];
      return [
        { bare: "bare Fastify route", get: "GET image definition", list: "list 1,000 definitions" }[
          t
        ],
        m.requestsPerSecond.toFixed(0),
        `(${m.minRequestsPerSecond.toFixed(0)}–${m.maxRequestsPerSecond.toFixed(0)})`,
        String(m.latencyMs.p50),
        String(m.latencyMs.p99),
        m.latencyMs.mean.toFixed(2),
        m.serverCpuCores.toFixed(2),
        m.serverCpuMicrosPerRequest.toFixed(0),
      ];
    }),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) {
    log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  }
  log(
    `\nGET / bare, req/s (median of per-round ratios): ${r.getOverBare.median.toFixed(2)}; ` +
      `by server CPU per request (bare µs / GET µs): ${r.getOverBareByCpuCost.median.toFixed(2)}`,
  );
  const mem = (m: Memory) => `${m.rssMb.toFixed(0)} MB (peak ${m.peakRssMb.toFixed(0)} MB)`;
  log(
    `ocg RSS: at start ${mem(r.memory.atStart)}, after seeding ${mem(r.memory.afterSeed)}, after load ${mem(r.memory.afterLoad)}`,
  );
  log("\ngoals:");
  for (const g of Object.values(r.goals)) {
    log(`  ${g.met ? "PASS" : "FAIL"}  ${g.goal}: ${Number(g.value.toFixed(2))}`);
  }
}

main().catch((err: unknown) => {
  stopAllNow();
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
