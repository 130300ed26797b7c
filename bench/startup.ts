/**
 * Start-up benchmark: how long from spawning `ocg start` (built, dist/) on an existing data dir
 * until `GET /healthz` answers 200, beside a baseline in the same run: spawning `node` with an
 * empty script until it exits (what any Node service pays before its first line). Goal: ready
 * in under 1 s. Reports medians of several rounds; see BENCHMARKS.md.
 *
 * Usage: npm run bench:startup -- [--rounds 9] [--skip-build]
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ocgCommand } from "./lib/server.js";
import { median } from "./stats.js";

const root = resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rounds: { type: "string", default: "9" },
    "skip-build": { type: "boolean", default: false },
  },
});
const rounds = Number(args.rounds);

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

function healthy(port: number, agent: Agent): Promise<boolean> {
  return new Promise((done) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/healthz", agent, servername: "localhost" },
      (res) => {
        res.resume();
        done(res.statusCode === 200);
      },
    );
    req.on("error", () => done(false));
    req.end();
  });
}

/** Milliseconds from spawn to the first 200 on /healthz. */
async function timeToReady(dataDir: string, agent: Agent | undefined): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...ocgCommand(),
      "start",
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--log-level",
      "warn",
    ],
    {
      stdio: "ignore",
    },
  );
  try {
    const tls = agent ?? new Agent({ rejectUnauthorized: false });
    for (;;) {
      if (await healthy(port, tls)) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`ocg start exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
}

function timeBareNode(): number {
  const started = performance.now();
  spawnSync(process.execPath, ["-e", ""]);
  return performance.now() - started;
}

if (!args["skip-build"]) spawnSync("npm", ["run", "build"], { cwd: root, stdio: "ignore" });
const dataDir = mkdtempSync(join(tmpdir(), "ocg-startup-"));
try {
  const firstStart = await timeToReady(dataDir, undefined);
  const agent = new Agent({ ca: readFileSync(join(dataDir, "tls", "ca.pem")) });
  const ocg: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < rounds; i++) {
    node.push(timeBareNode());
    ocg.push(await timeToReady(dataDir, agent));
  }
  const result = {
    rounds,
    firstStartMs: Math.round(firstStart),
    readyMedianMs: Math.round(median(ocg)),
    readyMinMs: Math.round(Math.min(...ocg)),
    readyMaxMs: Math.round(Math.max(...ocg)),
    bareNodeMedianMs: Math.round(median(node)),
  };
  console.log(JSON.stringify(result));
  console.log(
    `ocg ready on an existing data dir: median ${result.readyMedianMs} ms (min ${result.readyMinMs}, max ${result.readyMaxMs}); ` +
      `bare node start+exit ${result.bareNodeMedianMs} ms (ratio ${(median(ocg) / median(node)).toFixed(1)}x); ` +
      `first start (generates CA and keys) ${result.firstStartMs} ms. Goal < 1000 ms: ${median(ocg) < 1000 ? "met" : "MISSED"}`,
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
