/**
 * `ocg region-access grant|revoke|list`: a client of the running server's operator API
 * (`/providers/Microsoft.Ocg/regionAccess`, see api/routes/region-access.ts), logged in as the
 * admin principal of the data dir's credentials.json. It never opens the data dir's database.
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { ConfigError } from "../config/config.js";
import type { Credentials } from "../identity/bootstrap.js";

const API_VERSION = "2026-01-01";

interface Answer {
  status: number;
  json: Record<string, unknown> | undefined;
}

/** A failure the server reported, shown as `code: message`. */
export class ApiError extends Error {}

function send(
  url: URL,
  agent: Agent,
  init: { method: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method, headers: init.headers, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => {
        let json: Record<string, unknown> | undefined;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on("error", (err) =>
      reject(
        new ApiError(
          `cannot reach the server at ${url.origin} (${err.message}); is 'ocg start' running?`,
        ),
      ),
    );
    req.end(init.body);
  });
}

function failure(what: string, answer: Answer): ApiError {
  const error = answer.json?.error as { code?: string; message?: string } | undefined;
  return new ApiError(
    error?.code
      ? `${what}: ${error.code}: ${error.message ?? ""}`
      : `${what}: HTTP ${answer.status}`,
  );
}

export interface RegionAccessOptions {
  region?: string;
  subscription?: string;
}

/** Runs one subcommand; returns what to print. */
export async function regionAccess(
  credentials: Credentials,
  action: string | undefined,
  options: RegionAccessOptions,
): Promise<string> {
  if (action !== "grant" && action !== "revoke" && action !== "list") {
    throw new ConfigError("region-access needs one of: grant, revoke, list");
  }
  if (action !== "list" && (!options.region || !options.subscription)) {
    throw new ConfigError(`region-access ${action} needs --region and --subscription`);
  }
  const agent = new Agent({ ca: readFileSync(credentials.caCertificatePath, "utf8") });
  try {
    const base = new URL(credentials.resourceManagerEndpoint);
    const tokenAnswer = await send(
      new URL(`/${credentials.tenantId}/oauth2/v2.0/token`, credentials.authorityHost),
      agent,
      {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
          scope: "https://management.azure.com/.default",
        }).toString(),
      },
    );
    const token = tokenAnswer.json?.access_token;
    if (tokenAnswer.status !== 200 || typeof token !== "string") {
      throw failure("cannot log in with credentials.json", tokenAnswer);
    }
    const headers = { authorization: `Bearer ${token}` };
    const path = (...parts: string[]) => {
      const url = new URL(
        ["/providers/Microsoft.Ocg/regionAccess", ...parts.map(encodeURIComponent)].join("/"),
        base,
      );
      url.searchParams.set("api-version", API_VERSION);
      return url;
    };

    if (action === "list") {
      const url = options.region ? path(options.region, "subscriptions") : path();
      const answer = await send(url, agent, { method: "GET", headers });
      if (answer.status !== 200) throw failure("cannot list region access", answer);
      const wanted = options.subscription?.toLowerCase();
      const rows = ((answer.json?.value ?? []) as { properties: Record<string, string> }[])
        .map((g) => g.properties)
        .filter((p) => wanted === undefined || p.subscriptionId === wanted);
      return rows.map((p) => `${p.region}\t${p.subscriptionId}\t${p.grantedAt}`).join("\n");
    }

    const url = path(options.region!, "subscriptions", options.subscription!);
    if (action === "grant") {
      const answer = await send(url, agent, { method: "PUT", headers });
      if (answer.status !== 200 && answer.status !== 201) {
        throw failure("cannot grant region access", answer);
      }
      const p = (answer.json as { properties: Record<string, string> }).properties;
      return `${answer.status === 201 ? "granted" : "already granted"}: subscription ${p.subscriptionId} may deploy in ${p.region}`;
    }
    const answer = await send(url, agent, { method: "DELETE", headers });
    if (answer.status !== 200 && answer.status !== 204) {
      throw failure("cannot revoke region access", answer);
    }
    return `${answer.status === 200 ? "revoked" : "had no access"}: subscription ${options.subscription!.toLowerCase()} in ${options.region}`;
  } finally {
    agent.destroy();
  }
}
