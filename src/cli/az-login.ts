/**
 * The az commands that register this server as a cloud and log in to it. The authority ends in
 * `/adfs` so that MSAL skips Microsoft's instance discovery (as for Azure Stack Hub); az keeps its
 * state in a config dir of its own inside the data dir, away from the user's real Azure login.
 */
import { join } from "node:path";
import type { Credentials } from "../identity/bootstrap.js";

export function azLoginCommands(credentials: Credentials, dataDir: string) {
  const arm = credentials.resourceManagerEndpoint.replace(/\/$/, "");
  return {
    env: {
      REQUESTS_CA_BUNDLE: credentials.caCertificatePath,
      AZURE_CONFIG_DIR: join(dataDir, "az-config"),
    },
    commands: [
      [
        "az",
        "cloud",
        "register",
        "-n",
        "ocg",
        "--endpoint-resource-manager",
        `${arm}/`,
        "--endpoint-active-directory",
        `${arm}/adfs`,
        "--endpoint-active-directory-resource-id",
        "https://management.azure.com/",
        "--endpoint-active-directory-graph-resource-id",
        "https://graph.windows.net/",
        "--endpoint-management",
        "https://management.core.windows.net/",
      ],
      ["az", "cloud", "set", "-n", "ocg"],
      [
        "az",
        "login",
        "--service-principal",
        "-u",
        credentials.clientId,
        "-p",
        credentials.clientSecret,
        "--tenant",
        "adfs",
      ],
    ],
  };
}
