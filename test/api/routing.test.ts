/** ARM paths and disk access URLs share one server; neither swallows the other's requests. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test("a three-segment ARM path is answered as ARM, not as a disk URL", async () => {
  const res = await call(
    t,
    "PUT",
    `/subscriptions/${t.credentials.subscriptionId}/resourcegroups/?api-version=2021-04-01`,
    {
      body: { location: "eastus" },
    },
  );
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.ok(res.json?.error?.code, `an ARM error envelope: ${res.text.slice(0, 200)}`);
});
