/**
 * What benchmarks share: a real `ocg start` as a child process (its memory and CPU read from
 * /proc), an HTTPS client that trusts the server's own CA, and an ARM token from its token
 * endpoint.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { bundle } from "../../scripts/bundle.js";

export const root = resolve(import.meta.dirname, "../..");

/** Builds dist/ as `npm run build` does: tsc, then the one-file bundle of the ocg command. */
export async function build(): Promise<void> {
  const r = spawnSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    { cwd: root, stdio: "inherit" },
  );
  if (r.status !== 0) throw new Error("the build failed; fix it or run with --skip-build");
  await bundle();
}

export interface OcgChild {
  process: ChildProcess;
  url: string;
  ca: string;
  credentials: {
    tenantId: string;
    subscriptionId: string;
    clientId: string;
    clientSecret: string;
  };
  /** The last lines the server printed (for error reports). */
  output: string[];
  stop(): Promise<void>;
}

/**
 * Starts the server as `npm start` does (`ocgCommand`) on a data dir and waits until it listens.
 * `nodeFlags` go before the shipped ones (a profile: `--cpu-prof --cpu-prof-dir=…`).
 */
export async function startOcg(
  dataDir: string,
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
): Promise<OcgChild> {
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      ...ocgCommand(),
      "start",
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--log-level",
      "warn",
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  const output: string[] = [];
  const keep = (line: string) => {
    output.push(line);
    if (output.length > 50) output.shift();
  };
  createInterface({ input: child.stderr! }).on("line", keep);
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`ocg exited with ${code}:\n${output.join("\n")}`)));
    lines.on("line", (line) => {
      keep(line);
      const m = /ocg listening on (https:\/\/\S+)/.exec(line);
      if (m) {
        child.removeAllListeners("exit");
        ok(m[1]!);
      }
    });
  });
  return {
    process: child,
    url,
    ca: readFileSync(join(dataDir, "tls", "ca.pem"), "utf8"),
    credentials: JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8")),
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Memory {
  rssMb: number;
  peakRssMb: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssMb: kb("VmRSS") / 1024, peakRssMb: kb("VmHWM") / 1024 };
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

/** User and system (kernel) CPU seconds the process has used. */
export function cpuSecondsOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the comm.
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** An HTTPS client for one server: keep-alive, the server's CA, at most `maxSockets` at once. */
export function httpsClient(ca: string, maxSockets = 64) {
  const agent = new Agent({ ca, keepAlive: true, maxSockets });
  const send = (
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: Buffer | string,
  ) =>
    new Promise<Answer>((ok, fail) => {
      const req = httpsRequest(
        url,
        {
          method,
          agent,
          headers:
            body === undefined
              ? headers
              : { ...headers, "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on("error", fail);
        },
      );
      req.on("error", fail);
      req.end(body);
    });
  /** Reads a response to the end without keeping it; resolves with its length. */
  const drain = (url: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; bytes: number }>((ok, fail) => {
      const req = httpsRequest(url, { agent, headers }, (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => ok({ status: res.statusCode ?? 0, bytes }));
        res.on("error", fail);
      });
      req.on("error", fail);
      req.end();
    });
  return { send, drain, close: () => agent.destroy() };
}

export type HttpsClient = ReturnType<typeof httpsClient>;

/** A client-credentials token for ARM from the server's own token endpoint. */
export async function armToken(client: HttpsClient, server: OcgChild): Promise<string> {
  const c = server.credentials;
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: c.clientId,
    client_secret: c.clientSecret,
    scope: "https://management.azure.com/.default",
  }).toString();
  const a = await client.send(
    "POST",
    `${server.url}/${c.tenantId}/oauth2/v2.0/token`,
    { "content-type": "application/x-www-form-urlencoded" },
    form,
  );
  if (a.status !== 200) throw new Error(`token: HTTP ${a.status} ${a.body.toString()}`);
  return (JSON.parse(a.body.toString()) as { access_token: string }).access_token;
}

/**
 * How `npm start` runs the server: dist/cli/ocg.js through its `#!/usr/bin/env -S node …` line,
 * whose node flags are part of what ships. Returned as arguments for this process's own node, so
 * that benchmarks time the same binary they run on.
 */
export function ocgCommand(): string[] {
  const file = join(root, "dist/cli/ocg.js");
  const shebang = readFileSync(file, "utf8").split("\n", 1)[0]!;
  const m = /^#!\/usr\/bin\/env(?: -S)? node(.*)$/.exec(shebang);
  if (!m) throw new Error(`unexpected first line in ${file}: ${shebang}`);
  return [...m[1]!.split(" ").filter(Boolean), file];
}
