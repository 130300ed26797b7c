/**
 * All settings in one TypeBox schema. Sources, later ones winning: defaults < config file (JSON) <
 * environment (OCG_*) < command-line flags. A bad setting stops start-up with a message naming it.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const Region = Type.Object(
  {
    name: Type.String({ pattern: "^[a-z0-9]+$", description: "ARM short name, e.g. eastus" }),
    displayName: Type.Optional(Type.String({ minLength: 1 })),
    /** Availability zones, e.g. ["1","2","3"]; none (or []) for a region without zones. */
    zones: Type.Optional(
      Type.Array(Type.String({ pattern: "^[a-z0-9]{1,16}$" }), { uniqueItems: true }),
    ),
    /** Subscriptions may deploy here only once an operator grants access (`ocg region-access`). */
    restricted: Type.Optional(Type.Boolean()),
    /**
     * Directory of each storage location: keyed by zone, or `default` in a region without zones.
     * Relative paths are under the data dir. Default: `<dataDir>/blobs/<location id>`.
     */
    storage: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

export type RegionSettings = Static<typeof Region>;

const ZONES = ["1", "2", "3"];

/** eastus and westeurope with three zones, westus without, australiacentral restricted. */
export const DEFAULT_REGIONS: RegionSettings[] = [
  { name: "eastus", zones: ZONES },
  { name: "westeurope", zones: ZONES },
  { name: "westus" },
  { name: "australiacentral", restricted: true },
];

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({ default: ".ocg", minLength: 1 }),
    host: Type.String({ default: "127.0.0.1", minLength: 1 }),
    port: Type.Integer({ default: 4443, minimum: 0, maximum: 65535 }),
    /** Base URL written into credentials, tokens and links; defaults to https://localhost:<port>. */
    publicUrl: Type.Optional(Type.String({ pattern: "^https://" })),
    /** `sqlite:<file>` (default: <dataDir>/metadata.db) or `postgres://…`. */
    databaseUrl: Type.Optional(Type.String({ minLength: 1 })),
    tlsCert: Type.Optional(Type.String({ minLength: 1 })),
    tlsKey: Type.Optional(Type.String({ minLength: 1 })),
    /** The CA clients should trust for a user-supplied certificate (default: the certificate). */
    tlsCa: Type.Optional(Type.String({ minLength: 1 })),
    /** Accept api-versions we do not know (answering in the newest shape). */
    loose: Type.Boolean({ default: false }),
    logLevel: Type.Union(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
      { default: "info" },
    ),
    tokenLifetimeSeconds: Type.Integer({ default: 3600, minimum: 60 }),
    pageSize: Type.Integer({ default: 1000, minimum: 1, maximum: 10000 }),
    bodyLimitBytes: Type.Integer({ default: 4 * 1024 * 1024, minimum: 1024 }),
    regions: Type.Array(Region, {
      minItems: 1,
      default: DEFAULT_REGIONS,
    }),
    /**
     * Replica jobs this process runs at once. 0 runs none: the server then only queues them, for
     * workers elsewhere sharing the metadata store and blob storage.
     */
    replicationConcurrency: Type.Integer({ default: 4, minimum: 0, maximum: 64 }),
    /** Seconds between garbage collections of every storage location; 0 turns it off. */
    gcIntervalSeconds: Type.Integer({ default: 3600, minimum: 0 }),
    /** Unreferenced chunks younger than this are kept (an ingest may not have committed yet). */
    gcGraceSeconds: Type.Integer({ default: 3600, minimum: 0 }),
    limits: Type.Object(
      {
        galleriesPerRegion: Type.Integer({ default: 100, minimum: 0 }),
        imageDefinitionsPerRegion: Type.Integer({ default: 1000, minimum: 0 }),
        imageVersionsPerRegion: Type.Integer({ default: 10000, minimum: 0 }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ConfigInput = Partial<Omit<Config, "limits">> & { limits?: Partial<Config["limits"]> };

export class ConfigError extends Error {}

const ENV: Record<string, keyof Config> = {
  OCG_DATA_DIR: "dataDir",
  OCG_HOST: "host",
  OCG_PORT: "port",
  OCG_PUBLIC_URL: "publicUrl",
  OCG_DATABASE_URL: "databaseUrl",
  OCG_LOG_LEVEL: "logLevel",
  OCG_LOOSE: "loose",
  OCG_REPLICATION_CONCURRENCY: "replicationConcurrency",
  OCG_REGIONS: "regions",
};

function fromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    if (key === "regions") {
      try {
        out[key] = JSON.parse(raw);
      } catch {
        throw new ConfigError(`invalid setting 'regions': ${name} is not JSON`);
      }
      continue;
    }
    out[key] =
      key === "port" || key === "replicationConcurrency"
        ? Number(raw)
        : key === "loose"
          ? raw === "1" || raw === "true"
          : raw;
  }
  return out;
}

function readConfigFile(file: string): ConfigInput {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
}

export function loadConfig(
  flags: ConfigInput & { configFile?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const { configFile, ...flagValues } = flags;
  const file = configFile ? readConfigFile(configFile) : {};
  const fromEnvironment = fromEnv(env);
  const merged: Record<string, unknown> = {
    ...file,
    ...fromEnvironment,
    ...stripUndefined(flagValues),
    limits: { ...file.limits, ...flagValues.limits },
  };
  const config = Value.Default(ConfigSchema, merged) as Config;
  const firstError = Value.Errors(ConfigSchema, config).First();
  if (firstError) {
    const where = firstError.path.replace(/^\//, "").replaceAll("/", ".") || "(root)";
    throw new ConfigError(`invalid setting '${where}': ${firstError.message}`);
  }
  const dataDir = resolve(config.dataDir);
  return { ...config, dataDir, regions: resolveRegions(config.regions, dataDir) };
}

/**
 * The id of a storage location: `<region>-<zone>`, or the region's name when it has no zones.
 * (`domain/regions.ts` derives the same ids.)
 */
const storageLocationIdOf = (region: string, zone: string | null) =>
  zone === null ? region : `${region}-${zone}`;

/**
 * `regions` with the storage locations `locations` (ids such as `eastus-2`, `westus`) in
 * directories of their own under `dir`: how an operator puts some zones on another disk.
 */
export function regionsStoringIn(
  dir: string,
  locations: readonly string[],
  regions: readonly RegionSettings[] = DEFAULT_REGIONS,
): RegionSettings[] {
  return regions.map((r) => {
    const keys = r.zones?.length ? r.zones : ["default"];
    const storage = { ...r.storage };
    for (const key of keys) {
      const id = storageLocationIdOf(r.name, key === "default" ? null : key);
      if (locations.includes(id)) storage[key] = join(dir, id);
    }
    return Object.keys(storage).length ? { ...r, storage } : r;
  });
}

/**
 * Checks what the schema cannot (unique names, storage keys that are zones, one directory per
 * storage location) and fills in every storage location's directory, absolute.
 */
function resolveRegions(regions: RegionSettings[], dataDir: string): RegionSettings[] {
  const names = new Set<string>();
  const dirs = new Map<string, string>();
  return regions.map((r, i) => {
    const at = `regions.${i}`;
    if (names.has(r.name))
      throw new ConfigError(`invalid setting '${at}.name': '${r.name}' is listed twice`);
    names.add(r.name);
    const zones = r.zones ?? [];
    const keys = zones.length > 0 ? zones : ["default"];
    for (const key of Object.keys(r.storage ?? {})) {
      if (!keys.includes(key)) {
        throw new ConfigError(
          `invalid setting '${at}.storage.${key}': ${zones.length > 0 ? `zone '${key}' is not one of ${r.name}'s zones (${zones.join(",")})` : `${r.name} has no zones; name its one storage location 'default'`}`,
        );
      }
    }
    const storage: Record<string, string> = {};
    for (const key of keys) {
      const id = storageLocationIdOf(r.name, zones.length > 0 ? key : null);
      const given = r.storage?.[key];
      const dir =
        given === undefined
          ? join(dataDir, "blobs", id)
          : isAbsolute(given)
            ? resolve(given)
            : resolve(dataDir, given);
      const clash = dirs.get(dir);
      if (clash) {
        throw new ConfigError(
          `invalid setting '${at}.storage.${key}': storage location '${id}' would share the directory ${dir} with '${clash}'`,
        );
      }
      dirs.set(dir, id);
      storage[key] = dir;
    }
    return { ...r, zones, restricted: r.restricted ?? false, storage };
  });
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export const publicUrlOf = (c: Config) => c.publicUrl ?? `https://localhost:${c.port}`;
export const databaseUrlOf = (c: Config) => c.databaseUrl ?? `sqlite:${c.dataDir}/metadata.db`;
