/**
 * api-version handling. Every ARM call names one; each family of resources accepts the versions
 * real clients send (az 2.45 and the current SDKs among them). An unknown version gets ARM's error,
 * or, with `--loose`, is served in the newest shape.
 */
import { ArmError } from "./errors.js";

export type ApiFamily =
  | "gallery"
  | "compute"
  | "disks"
  | "operations"
  | "resources"
  | "subscriptions"
  | "metadata"
  | "ocg";

const VERSIONS: Record<Exclude<ApiFamily, "operations">, string[]> = {
  gallery: [
    "2021-07-01",
    "2021-10-01",
    "2022-01-03",
    "2022-03-03",
    "2022-08-03",
    "2023-07-03",
    "2024-03-03",
    "2025-03-03",
    "2025-12-03",
    "2026-03-03",
  ],
  compute: [
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-04-01",
  ],
  // DiskRP (disks, snapshots): az 2.45 sends disks 2022-07-02, snapshots 2022-03-02.
  disks: [
    "2020-12-01",
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",
  ],
  resources: [
    "2016-09-01",
    "2017-05-10",
    "2018-02-01",
    "2018-05-01",
    "2019-05-01",
    "2019-05-10",
    "2019-07-01",
    "2019-08-01",
    "2019-10-01",
    "2020-06-01",
    "2020-08-01",
    "2020-10-01",
    "2021-01-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-03-01",
    "2025-04-01",
  ],
  subscriptions: [
    "2016-06-01",
    "2018-06-01",
    "2019-06-01",
    "2019-11-01",
    "2020-01-01",
    "2021-01-01",
    "2022-01-01",
    "2022-12-01",
  ],
  metadata: ["2015-01-01", "2018-01-01", "2019-05-01", "2020-06-01", "2022-09-01"],
  // Microsoft.Ocg: this server's own operator API (region access).
  ocg: ["2026-01-01"],
};

/** An operation is polled with the api-version of the call that started it. */
const ALL: Record<ApiFamily, string[]> = {
  ...VERSIONS,
  operations: [...new Set([...VERSIONS.gallery, ...VERSIONS.compute, ...VERSIONS.disks])].sort(),
};

const SUPPORTED = Object.fromEntries(
  Object.entries(ALL).map(([family, list]) => [family, new Set(list)]),
) as Record<ApiFamily, Set<string>>;

const WELL_FORMED = /^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?$/i;

export const newestVersion = (family: ApiFamily) => ALL[family].at(-1)!;

/** The version to serve, or ARM's error for a missing, malformed or unsupported one. */
export function resolveApiVersion(
  family: ApiFamily,
  given: string | string[] | undefined,
  loose: boolean,
  resourceType: string,
): string {
  const value = Array.isArray(given) ? given[0] : given;
  if (value === undefined || value === "") {
    throw new ArmError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
      "api-version",
    );
  }
  if (SUPPORTED[family].has(value)) return value;
  // --loose tolerates versions newer than ours, not text that isn't a version at all.
  if (loose && WELL_FORMED.test(value)) return newestVersion(family);
  const supported = ALL[family].join(", ");
  // ARM answers for its own types (resource groups, subscriptions) unlike for a provider's.
  if (!WELL_FORMED.test(value) || family === "resources" || family === "subscriptions") {
    throw new ArmError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${value.slice(0, 64)}' is invalid. The supported versions are '${[...ALL[family]].reverse().join(",")}'.`,
      "api-version",
    );
  }
  throw new ArmError(
    400,
    "NoRegisteredProviderFound",
    `No registered resource provider found for location 'global' and API version '${value}' for type '${resourceType}'. The supported api-versions are '${supported}'. Start the server with --loose to accept unknown api-versions.`,
    "api-version",
  );
}
