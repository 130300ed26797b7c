/**
 * `ocg region-access` as an operator runs it: a separate process that logs in with the data dir's
 * credentials.json and asks the running server to grant, list and revoke access to a restricted
 * region; the SDK then sees the effect.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ocg as run } from "../helpers/cli.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer();
  await t.resources.resourceGroups.createOrUpdate("cli-rg", { location: "eastus" });
});
after(() => t?.close());

const ocg = (...args: string[]) => run(...args, "--data-dir", t.dataDir);

test("grant, list and revoke access to a restricted region from the command line", async () => {
  const sub = t.credentials.subscriptionId;
  await assert.rejects(
    t.compute.galleries.beginCreateOrUpdateAndWait("cli-rg", "g1", {
      location: "australiacentral",
    }),
    { statusCode: 400, code: "LocationNotAvailableForResourceType" },
  );

  const granted = await ocg(
    "region-access",
    "grant",
    "--region",
    "australiacentral",
    "--subscription",
    sub,
  );
  assert.equal(granted.status, 0, granted.stderr);
  assert.equal(granted.stdout, `granted: subscription ${sub} may deploy in australiacentral\n`);

  const listed = await ocg("region-access", "list");
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^australiacentral\\t${sub}\\t\\d{4}-\\d\\d-\\d\\dT`));
  const filtered = await ocg(
    "region-access",
    "list",
    "--subscription",
    "00000000-0000-0000-0000-000000000000",
  );
  assert.equal(filtered.stdout, "");

  const g = await t.compute.galleries.beginCreateOrUpdateAndWait("cli-rg", "g1", {
    location: "australiacentral",
  });
  assert.equal(g.location, "australiacentral");

  const revoked = await ocg(
    "region-access",
    "revoke",
    "--region",
    "australiacentral",
    "--subscription",
    sub,
  );
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.match(revoked.stdout, /^revoked: /);
  assert.equal((await ocg("region-access", "list", "--region", "australiacentral")).stdout, "");
  await assert.rejects(
    t.compute.galleries.beginCreateOrUpdateAndWait("cli-rg", "g2", {
      location: "australiacentral",
    }),
    { statusCode: 400, code: "LocationNotAvailableForResourceType" },
  );
});

test("the command refuses bad use with a message", async () => {
  const missing = await ocg("region-access", "grant", "--region", "australiacentral");
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /needs --region and --subscription/);
  const unknown = await ocg("region-access", "allow");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /grant, revoke, list/);
  const open = await ocg(
    "region-access",
    "grant",
    "--region",
    "eastus",
    "--subscription",
    t.credentials.subscriptionId,
  );
  assert.equal(open.status, 1);
  assert.match(
    open.stderr,
    /cannot grant region access: InvalidParameter: The region 'eastus' is not restricted/,
  );
});
