/**
 * The `ocg` command as a user runs it: first start on an empty data dir generates the certificate
 * and credentials; a restart keeps everything; `credentials` and `az-login` print what to use.
 * Each test runs twice: from the sources, and as the one-file bundle that `npm run build` makes of
 * them (what `npm start` and `npx ocg` run), built here into the test's data folder.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { bundle } from "../../scripts/bundle.js";
import { tempDir } from "../helpers/server.js";

const root = resolve(import.meta.dirname, "../..");
const running: ChildProcess[] = [];
const dirs: string[] = [];
const dir = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
after(() => {
  running.forEach((p) => p.kill("SIGKILL"));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

async function start(ocgArgs: string[], dataDir: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [...ocgArgs, "start", "--data-dir", dataDir, "--port", "0", "--log-level", "warn", ...extra],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  running.push(child);
  let out = "";
  const url = await new Promise<string>((resolvePromise, reject) => {
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const m = /ocg listening on (https:\/\/\S+)/.exec(out);
      if (m) resolvePromise(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`ocg start exited with ${code}: ${out}`)));
  });
  return { child, url };
}

async function stop(child: ChildProcess) {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

function request(
  url: string,
  ca: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  return new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const agent = new Agent({ ca });
    import("node:https").then(({ request: send }) => {
      const req = send(
        url,
        { method: init.method ?? "GET", headers: init.headers, agent },
        (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolvePromise({ status: res.statusCode!, body }));
        },
      );
      req.on("error", reject);
      req.end(init.body);
    });
  });
}

for (const variant of ["sources", "bundle"] as const) {
  describe(`ocg from the ${variant}`, () => {
    let ocgArgs = ["--import", "tsx", join(root, "src/cli/ocg.ts")];
    if (variant === "bundle") {
      before(async () => {
        const file = join(dir("bundle"), "ocg.js");
        await bundle(file);
        ocgArgs = [file];
      });
    }

    test("first start generates a CA and credentials; a restart keeps the data", async () => {
      const dataDir = dir("cli");
      const first = await start(ocgArgs, dataDir);
      const credentialsFile = join(dataDir, "credentials.json");
      assert.equal(statSync(credentialsFile).mode & 0o777, 0o600);
      const credentials = JSON.parse(readFileSync(credentialsFile, "utf8"));
      assert.deepEqual(Object.keys(credentials).sort(), [
        "authorityHost",
        "caCertificatePath",
        "clientId",
        "clientSecret",
        "resourceManagerEndpoint",
        "subscriptionId",
        "tenantId",
      ]);
      assert.equal(credentials.resourceManagerEndpoint, first.url);
      const ca = readFileSync(credentials.caCertificatePath, "utf8");
      assert.match(ca, /BEGIN CERTIFICATE/);
      assert.equal(
        (await request(`${first.url}/healthz`, ca)).status,
        200,
        "the generated CA is trusted for localhost",
      );

      const token = JSON.parse(
        (
          await request(`${first.url}/${credentials.tenantId}/oauth2/v2.0/token`, ca, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "client_credentials",
              client_id: credentials.clientId,
              client_secret: credentials.clientSecret,
              scope: "https://management.azure.com/.default",
            }).toString(),
          })
        ).body,
      ).access_token;
      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const rg = `${first.url}/subscriptions/${credentials.subscriptionId}/resourcegroups/kept?api-version=2021-04-01`;
      assert.equal(
        (await request(rg, ca, { method: "PUT", headers: auth, body: '{"location":"eastus"}' }))
          .status,
        201,
      );
      await stop(first.child);

      const second = await start(ocgArgs, dataDir);
      const again = JSON.parse(readFileSync(credentialsFile, "utf8"));
      assert.equal(again.clientSecret, credentials.clientSecret, "a restart keeps the identity");
      assert.equal(readFileSync(again.caCertificatePath, "utf8"), ca, "and the certificate");
      const rg2 = rg.replace(first.url, second.url);
      const kept = await request(rg2, ca, { headers: auth });
      assert.equal(
        kept.status,
        200,
        "a token from before the restart still works, and the group is there",
      );
      assert.equal(JSON.parse(kept.body).name, "kept");
      await stop(second.child);

      const printed = spawnSync(
        process.execPath,
        [...ocgArgs, "credentials", "--data-dir", dataDir],
        {
          cwd: root,
          encoding: "utf8",
        },
      );
      assert.equal(printed.status, 0);
      assert.deepEqual(JSON.parse(printed.stdout), again);

      const login = spawnSync(process.execPath, [...ocgArgs, "az-login", "--data-dir", dataDir], {
        cwd: root,
        encoding: "utf8",
      });
      assert.equal(login.status, 0);
      assert.match(login.stdout, /^export REQUESTS_CA_BUNDLE=/m);
      assert.match(
        login.stdout,
        /^az cloud register -n ocg --endpoint-resource-manager https:\/\/localhost:\d+\/ --endpoint-active-directory https:\/\/localhost:\d+\/adfs /m,
      );
      assert.ok(
        login.stdout.includes(
          `az login --service-principal -u ${credentials.clientId} -p ${credentials.clientSecret} --tenant adfs`,
        ),
      );
    });

    test("a bad setting stops start-up with a message naming it", () => {
      const dataDir = dir("cli-bad");
      const configFile = join(dataDir, "config.json");
      writeFileSync(configFile, JSON.stringify({ limits: { galleriesPerRegion: -1 } }));
      const res = spawnSync(
        process.execPath,
        [...ocgArgs, "start", "--data-dir", dataDir, "--config", configFile],
        {
          cwd: root,
          encoding: "utf8",
        },
      );
      assert.equal(res.status, 2);
      assert.match(res.stderr, /invalid setting 'limits\.galleriesPerRegion'/);
      const noCreds = spawnSync(
        process.execPath,
        [...ocgArgs, "credentials", "--data-dir", join(dataDir, "empty")],
        { cwd: root, encoding: "utf8" },
      );
      assert.equal(noCreds.status, 2);
      assert.match(noCreds.stderr, /start the server once/);
    });
  });
}
