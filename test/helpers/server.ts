/**
 * Starts a real ocg server (HTTPS, SQLite in a fresh data dir, port 0) for one test file, and gives
 * real Azure SDK clients logged in through its token endpoint.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ClientSecretCredential } from "@azure/identity";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ResourceManagementClient } from "@azure/arm-resources";
import { pino } from "pino";
import type { ConfigInput } from "../../src/config/config.js";
import type { Credentials } from "../../src/identity/bootstrap.js";
import { startServer, type RunningServer } from "../../src/main.js";

export interface TestServer {
  server: RunningServer;
  url: string;
  credentials: Credentials;
  credential: ClientSecretCredential;
  compute: ComputeManagementClient;
  resources: ResourceManagementClient;
  dataDir: string;
  token(): Promise<string>;
  close(): Promise<void>;
}

export function tempDir(prefix: string): string {
  const base = process.env.OCG_TEST_DATA ?? "/tmp";
  return mkdtempSync(join(base, `${prefix}-`));
}

export function sharedTls() {
  const dir = process.env.OCG_TEST_TLS_DIR;
  if (!dir) throw new Error("run tests with `npm test`, which sets up the shared test CA");
  return {
    tlsCert: join(dir, "server.pem"),
    tlsKey: join(dir, "server-key.pem"),
    tlsCa: join(dir, "ca.pem"),
  };
}

export async function startTestServer(config: ConfigInput = {}): Promise<TestServer> {
  const dataDir = config.dataDir ?? tempDir("ocg");
  const server = await startServer(
    { port: 0, ...sharedTls(), ...config, dataDir },
    { logger: pino({ level: process.env.OCG_TEST_LOG ?? "silent" }) },
  );
  const credentials = JSON.parse(readFileSync(server.credentialsFile, "utf8")) as Credentials;
  const credential = new ClientSecretCredential(
    credentials.tenantId,
    credentials.clientId,
    credentials.clientSecret,
    { authorityHost: server.url, disableInstanceDiscovery: true },
  );
  const retryOptions = { maxRetries: 0 };
  const compute = new ComputeManagementClient(credential, credentials.subscriptionId, {
    endpoint: server.url,
    retryOptions,
    updateIntervalInMs: 10,
  } as never);
  const resources = new ResourceManagementClient(credential, credentials.subscriptionId, {
    endpoint: server.url,
    retryOptions,
  });
  return {
    server,
    url: server.url,
    credentials,
    credential,
    compute,
    resources,
    dataDir,
    async token() {
      const t = await credential.getToken("https://management.azure.com/.default");
      return t.token;
    },
    async close() {
      await server.close();
      if (!config.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A raw HTTPS call to the server, for what the SDKs won't send (bad input, odd headers). */
export async function call(
  t: TestServer,
  method: string,
  path: string,
  options: {
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    token?: string | null;
  } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? await t.token() : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, t.url), { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: json as Record<string, any> };
}
