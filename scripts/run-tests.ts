/**
 * Runs the whole suite with node's test runner. Test servers share one generated CA, trusted the
 * way users trust it (NODE_EXTRA_CA_CERTS), because Node reads that variable only at start-up.
 * Usage: npm test [-- <file or folder> ...]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadOrCreateTls } from "../src/tls/certificates.js";

const root = resolve(import.meta.dirname, "..");
const testData = join(root, ".test-data");
// Each run keeps its data dirs in a folder of its own (runs may overlap); folders of runs that
// are gone (killed before cleaning up) are removed. The shared CA stays.
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
for (const entry of existsSync(testData) ? readdirSync(testData) : []) {
  const pid = /^run-(\d+)$/.exec(entry)?.[1];
  if (entry !== "shared-tls" && !(pid && alive(Number(pid)))) {
    rmSync(join(testData, entry), { recursive: true, force: true });
  }
}
const runData = join(testData, `run-${process.pid}`);
mkdirSync(runData, { recursive: true });
const tls = await loadOrCreateTls(join(testData, "shared-tls"));

function testFiles(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path)
    .flatMap((entry) => testFiles(join(path, entry)))
    .filter((f) => f.endsWith(".test.ts"))
    .sort();
}

const targets = process.argv.slice(2);
const files = (targets.length ? targets : ["test"]).flatMap((t) => testFiles(resolve(root, t)));
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  {
    stdio: "inherit",
    cwd: root,
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: tls.caCertificatePath,
      OCG_TEST_TLS_DIR: join(testData, "shared-tls", "tls"),
      OCG_TEST_DATA: runData,
    },
  },
);
rmSync(runData, { recursive: true, force: true });
process.exit(result.status ?? 1);
