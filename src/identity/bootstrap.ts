/**
 * First start: one tenant, one subscription and an admin service principal, and the credentials
 * file a user (or a test) logs in with. Later starts find the tenant and change nothing.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Store } from "../domain/resource.js";
import { hashSecret, newClientSecret } from "./secrets.js";

export interface Credentials {
  tenantId: string;
  subscriptionId: string;
  clientId: string;
  clientSecret: string;
  resourceManagerEndpoint: string;
  authorityHost: string;
  caCertificatePath: string;
}

/** Returns the credentials of the admin principal (the operator). */
export async function bootstrapIdentity(
  store: Store,
  credentialsFile: string,
  endpoints: { publicUrl: string; caCertificatePath: string },
): Promise<Credentials> {
  const tenants = await store.identity.listTenants();
  if (tenants.length > 0 && existsSync(credentialsFile)) {
    return refreshEndpoints(credentialsFile, endpoints);
  }
  if (tenants.length > 0) {
    throw new Error(
      `the data dir has a tenant but ${credentialsFile} is missing; restore it or start with a new data dir`,
    );
  }
  const tenantId = randomUUID();
  const subscriptionId = randomUUID();
  const clientId = randomUUID();
  const clientSecret = newClientSecret();
  const secretHash = await hashSecret(clientSecret);
  await store.transaction(async (tx) => {
    await tx.identity.insertTenant({ id: tenantId, displayName: "Open Compute Gallery" });
    await tx.identity.insertSubscription({
      id: subscriptionId,
      tenantId,
      displayName: "ocg",
      state: "Enabled",
    });
    await tx.identity.insertPrincipal({
      clientId,
      objectId: randomUUID(),
      tenantId,
      displayName: "ocg-admin",
      secretHash,
    });
  });
  const credentials: Credentials = {
    tenantId,
    subscriptionId,
    clientId,
    clientSecret,
    resourceManagerEndpoint: endpoints.publicUrl,
    authorityHost: endpoints.publicUrl,
    caCertificatePath: endpoints.caCertificatePath,
  };
  writeFileSync(credentialsFile, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  return credentials;
}

/** The server may come back on another port or certificate: keep the file's endpoints true. */
function refreshEndpoints(
  credentialsFile: string,
  endpoints: { publicUrl: string; caCertificatePath: string },
): Credentials {
  const current = JSON.parse(readFileSync(credentialsFile, "utf8")) as Credentials;
  const updated: Credentials = {
    ...current,
    resourceManagerEndpoint: endpoints.publicUrl,
    authorityHost: endpoints.publicUrl,
    caCertificatePath: endpoints.caCertificatePath,
  };
  if (JSON.stringify(updated) !== JSON.stringify(current)) {
    writeFileSync(credentialsFile, JSON.stringify(updated, null, 2) + "\n", { mode: 0o600 });
  }
  return updated;
}
