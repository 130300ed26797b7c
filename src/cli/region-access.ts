/**
 * `ocg region-access grant|revoke|list`: a client of the running server's operator API
 * (`/providers/Microsoft.Ocg/regionAccess`, see api/routes/region-access.ts), logged in as the
 * admin principal of the data dir's credentials.json. It never opens the data dir's database.
 */
import { ConfigError } from "../config/config.js";
import type { Credentials } from "../identity/bootstrap.js";
import { ApiClient, failure } from "./api-client.js";

const API_VERSION = "2026-01-01";

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
  const client = new ApiClient(credentials);
  try {
    const path = (...parts: string[]) =>
      ["/providers/Microsoft.Ocg/regionAccess", ...parts.map(encodeURIComponent)].join("/");

    if (action === "list") {
      const url = options.region ? path(options.region, "subscriptions") : path();
      const answer = await client.arm("GET", url, API_VERSION);
      if (answer.status !== 200) throw failure("cannot list region access", answer);
      const wanted = options.subscription?.toLowerCase();
      const rows = ((answer.json?.value ?? []) as { properties: Record<string, string> }[])
        .map((g) => g.properties)
        .filter((p) => wanted === undefined || p.subscriptionId === wanted);
      return rows.map((p) => `${p.region}\t${p.subscriptionId}\t${p.grantedAt}`).join("\n");
    }

    const url = path(options.region!, "subscriptions", options.subscription!);
    if (action === "grant") {
      const answer = await client.arm("PUT", url, API_VERSION);
      if (answer.status !== 200 && answer.status !== 201) {
        throw failure("cannot grant region access", answer);
      }
      const p = (answer.json as { properties: Record<string, string> }).properties;
      return `${answer.status === 201 ? "granted" : "already granted"}: subscription ${p.subscriptionId} may deploy in ${p.region}`;
    }
    const answer = await client.arm("DELETE", url, API_VERSION);
    if (answer.status !== 200 && answer.status !== 204) {
      throw failure("cannot revoke region access", answer);
    }
    return `${answer.status === 200 ? "revoked" : "had no access"}: subscription ${options.subscription!.toLowerCase()} in ${options.region}`;
  } finally {
    client.close();
  }
}
