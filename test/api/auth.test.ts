/**
 * The server as identity provider and gatekeeper: discovery documents MSAL needs, the token
 * endpoint, and ARM's 401s for every way a token can be wrong.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ClientSecretCredential } from "@azure/identity";
import { ComputeManagementClient } from "@azure/arm-compute";
import { importJWK, SignJWT } from "jose";
import { hashSecret } from "../../src/identity/secrets.js";
import { openStore } from "../../src/store/open-store.js";
import { call, sharedTls, startTestServer, type TestServer } from "../helpers/server.js";

let t: TestServer;
let sub: string;
const galleriesPath = () =>
  `/subscriptions/${sub}/providers/Microsoft.Compute/galleries?api-version=2025-12-03`;

before(async () => {
  t = await startTestServer();
  sub = t.credentials.subscriptionId;
});
after(() => t.close());

async function tokenFor(
  form: Record<string, string>,
  tenant = t.credentials.tenantId,
  version = "v2.0/",
) {
  const res = await fetch(`${t.url}/${tenant}/oauth2/${version}token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/**
 * An ARM token for the server's own principal, valid between two times (s), signed with the
 * server's key (under its key id) or with `key`, a forger's.
 */
async function signedToken(issuedAt: number, expiresAt: number, key?: CryptoKey) {
  const jwk = JSON.parse(readFileSync(join(t.dataDir, "identity", "signing-key.json"), "utf8"));
  return new SignJWT({
    tid: t.credentials.tenantId,
    oid: randomUUID(),
    appid: t.credentials.clientId,
  })
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
    .setIssuer(`https://sts.windows.net/${t.credentials.tenantId}/`)
    .setAudience("https://management.azure.com/")
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(key ?? (await importJWK(jwk, "RS256")));
}

const clientCredentials = (extra: Record<string, string> = {}) => ({
  grant_type: "client_credentials",
  client_id: t.credentials.clientId,
  client_secret: t.credentials.clientSecret,
  scope: "https://management.azure.com/.default",
  ...extra,
});

test("discovery documents carry what MSAL needs, in the Entra ID and AD FS shapes", async () => {
  for (const path of [
    `/${t.credentials.tenantId}/v2.0/.well-known/openid-configuration`,
    "/adfs/.well-known/openid-configuration",
    "/adfs/adfs/.well-known/openid-configuration",
  ]) {
    const res = await call(t, "GET", path, { token: null });
    assert.equal(res.status, 200, path);
    for (const key of [
      "issuer",
      "token_endpoint",
      "authorization_endpoint",
      "end_session_endpoint",
      "jwks_uri",
      "response_types_supported",
    ]) {
      assert.ok(res.json[key], `${path} has ${key}`);
    }
    const keys = await call(t, "GET", new URL(res.json.jwks_uri).pathname, { token: null });
    assert.equal(keys.json.keys[0].kty, "RSA");
    assert.equal(keys.json.keys[0].d, undefined, "the private part never leaves the server");
  }
});

test("the token endpoint issues ARM tokens for the right secret only", async () => {
  const ok = await tokenFor(clientCredentials());
  assert.equal(ok.status, 200);
  assert.equal(ok.json.token_type, "Bearer");
  const azStyle = await tokenFor(
    clientCredentials({ scope: "https://management.azure.com//.default" }),
    "adfs",
    "",
  );
  assert.equal(
    azStyle.status,
    200,
    "az's double-slash scope on the AD FS endpoint, tenant found from the client id",
  );
  const listed = await call(t, "GET", galleriesPath(), { token: azStyle.json.access_token });
  assert.equal(listed.status, 200);
  const wrongSecret = await tokenFor(clientCredentials({ client_secret: "nope" }));
  assert.equal(wrongSecret.status, 401);
  assert.equal(wrongSecret.json.error, "invalid_client");
  const unknownClient = await tokenFor(clientCredentials({ client_id: randomUUID() }));
  assert.equal(unknownClient.status, 400);
  const wrongGrant = await tokenFor(clientCredentials({ grant_type: "password" }));
  assert.equal(wrongGrant.json.error, "unsupported_grant_type");
  const otherTenant = await tokenFor(clientCredentials(), randomUUID());
  assert.equal(otherTenant.json.error, "unauthorized_client");
});

test("ARM calls without a valid token get 401 with the ARM envelope and WWW-Authenticate", async () => {
  const missing = await call(t, "GET", galleriesPath(), { token: null });
  assert.equal(missing.status, 401);
  assert.equal(missing.json.error.code, "AuthenticationFailed");
  assert.match(
    missing.headers.get("www-authenticate")!,
    /^Bearer authorization_uri="https:\/\/.*", error="invalid_token"/,
  );
  const garbage = await call(t, "GET", galleriesPath(), { token: "not.a.jwt" });
  assert.equal(garbage.json.error.code, "InvalidAuthenticationToken");
  const basic = await call(t, "GET", galleriesPath(), {
    token: null,
    headers: { authorization: "Basic abc" },
  });
  assert.equal(basic.json.error.code, "AuthenticationFailed");

  const graph = await tokenFor(clientCredentials({ scope: "https://graph.windows.net/.default" }));
  const wrongAudience = await call(t, "GET", galleriesPath(), { token: graph.json.access_token });
  assert.equal(wrongAudience.status, 401);
  assert.equal(wrongAudience.json.error.code, "InvalidAuthenticationTokenAudience");

  const past = Math.floor(Date.now() / 1000) - 7200;
  const expired = await signedToken(past, past + 3600);
  const expiredRes = await call(t, "GET", galleriesPath(), { token: expired });
  assert.equal(expiredRes.status, 401);
  assert.equal(expiredRes.json.error.code, "ExpiredAuthenticationToken");

  const { privateKey } = await import("jose").then((j) => j.generateKeyPair("RS256"));
  const now = Math.floor(Date.now() / 1000);
  const forged = await signedToken(now, now + 3600, privateKey);
  const forgedRes = await call(t, "GET", galleriesPath(), { token: forged });
  assert.equal(forgedRes.json.error.code, "InvalidAuthenticationToken");
});

test("a principal of another tenant can't touch this subscription, nor see it", async () => {
  const store = await openStore(`sqlite:${join(t.dataDir, "metadata.db")}`);
  const tenantId = randomUUID();
  const clientId = randomUUID();
  const secret = "other-tenant-secret";
  try {
    await store.identity.insertTenant({ id: tenantId, displayName: "other" });
    await store.identity.insertPrincipal({
      clientId,
      objectId: randomUUID(),
      tenantId,
      displayName: "intruder",
      secretHash: await hashSecret(secret),
    });
  } finally {
    await store.close();
  }
  const credential = new ClientSecretCredential(tenantId, clientId, secret, {
    authorityHost: t.url,
    disableInstanceDiscovery: true,
  });
  const intruder = new ComputeManagementClient(credential, sub, { endpoint: t.url });
  await assert.rejects(intruder.galleries.get("any", "any"), {
    statusCode: 401,
    code: "InvalidAuthenticationTokenTenant",
  });
  const token = (await credential.getToken("https://management.azure.com/.default")).token;
  const subs = await call(t, "GET", "/subscriptions?api-version=2019-11-01", { token });
  assert.deepEqual(subs.json.value, []);
  const mine = await call(t, "GET", "/subscriptions?api-version=2019-11-01");
  assert.deepEqual(
    mine.json.value.map((s: any) => [s.subscriptionId, s.tenantId, s.state]),
    [[sub, t.credentials.tenantId, "Enabled"]],
  );
});

test("an unknown subscription is 404 SubscriptionNotFound", async () => {
  const res = await call(
    t,
    "GET",
    `/subscriptions/${randomUUID()}/providers/Microsoft.Compute/galleries?api-version=2025-12-03`,
  );
  assert.equal(res.status, 404);
  assert.equal(res.json.error.code, "SubscriptionNotFound");
});

test("regions, tenants and cloud metadata are served", async () => {
  const locations = await call(t, "GET", `/subscriptions/${sub}/locations?api-version=2022-12-01`);
  assert.deepEqual(
    locations.json.value.map((l: any) => l.name),
    ["eastus", "westeurope", "westus", "australiacentral"],
  );
  assert.equal(locations.json.value[0].displayName, "East US");
  const tenants = await call(t, "GET", "/tenants?api-version=2022-12-01");
  assert.equal(tenants.json.value[0].tenantId, t.credentials.tenantId);
  const metadata = await call(t, "GET", "/metadata/endpoints?api-version=2022-09-01", {
    token: null,
  });
  assert.equal(metadata.json[0].resourceManager, `${t.url}/`);
});

test("on one kept-alive connection each request's token is judged anew, expiry included", async () => {
  const now = Math.floor(Date.now() / 1000);
  const shortLived = await signedToken(now, now + 2);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: readFileSync(sharedTls().tlsCa),
  });
  const get = (token: string) =>
    new Promise<{ status: number; reused: boolean; code?: string }>((resolve, reject) => {
      const req = request(
        new URL(galleriesPath(), t.url),
        { agent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () =>
            resolve({
              status: res.statusCode!,
              reused: req.reusedSocket,
              code: res.statusCode === 200 ? undefined : JSON.parse(text).error.code,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
  try {
    assert.equal((await get(shortLived)).status, 200);
    const other = await get(`${shortLived.slice(0, -4)}AAAA`);
    assert.deepEqual(other, { status: 401, reused: true, code: "InvalidAuthenticationToken" });
    assert.deepEqual(await get(shortLived), { status: 200, reused: true, code: undefined });
    await new Promise((r) => setTimeout(r, Math.max(0, (now + 3) * 1000 - Date.now())));
    assert.deepEqual(await get(shortLived), {
      status: 401,
      reused: true,
      code: "ExpiredAuthenticationToken",
    });
    assert.equal((await get(await t.token())).status, 200);
  } finally {
    agent.destroy();
  }
});
