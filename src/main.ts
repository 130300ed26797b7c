/**
 * Composition root: config → logger → TLS → store → domain services → HTTPS server. Returns a
 * handle so that the CLI, tests and benchmarks start the same server the same way.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { buildServer } from "./api/server.js";
import { DiskService } from "./disks/disk-service.js";
import type { ReplicaLoad } from "./disks/replica-load.js";
import { databaseUrlOf, loadConfig, type Config, type ConfigInput } from "./config/config.js";
import { RegionCatalog } from "./domain/regions.js";
import { ResourceService } from "./domain/resource-service.js";
import { applicationRules } from "./gallery/applications.js";
import { galleryRules } from "./gallery/galleries.js";
import { imageDefinitionRules } from "./gallery/images.js";
import { ApplicationVersionService } from "./gallery/application-version-service.js";
import { ImageVersionService } from "./gallery/version-service.js";
import { bootstrapIdentity } from "./identity/bootstrap.js";
import { TokenService } from "./identity/tokens.js";
import { ResourceGroupService } from "./resources/resource-groups.js";
import { GcSchedule } from "./replication/gc-schedule.js";
import { ReplicationWorker } from "./replication/worker.js";
import { checkFileUri, checkVhdUri, ingestUriSource } from "./replication/uri-sources.js";
import { validateVersion } from "./replication/validate.js";
import { openStore } from "./store/open-store.js";
import { loadOrCreateTls } from "./tls/certificates.js";

export interface RunningServer {
  url: string;
  config: Config;
  credentialsFile: string;
  caCertificatePath: string;
  logger: Logger;
  /** Reads in flight and bytes served per image replica (diagnostics, benchmarks). */
  replicaLoad: ReplicaLoad;
  /** Runs one garbage collection over every storage location now. */
  collectGarbage(): Promise<void>;
  close(): Promise<void>;
}

export async function startServer(
  input: ConfigInput & { configFile?: string } = {},
  options: { logger?: Logger } = {},
): Promise<RunningServer> {
  const config = loadConfig(input);
  const logger =
    options.logger ??
    pino({
      level: config.logLevel,
      redact: ["req.headers.authorization", "*.clientSecret", "*.client_secret"],
    });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const [tls, store, tokens] = await Promise.all([
    loadOrCreateTls(config.dataDir, { cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa }),
    openStore(databaseUrlOf(config)),
    TokenService.open(
      join(config.dataDir, "identity", "signing-key.json"),
      config.tokenLifetimeSeconds,
    ),
  ]);
  const regions = new RegionCatalog(config.regions, { dataDir: config.dataDir });
  const placement = {
    place: (region: string, ordinal: number, storageAccountType: string, target: string) =>
      regions.placeReplica(region, ordinal, storageAccountType, target),
    regionOf: (location: string) => regions.storageLocation(location)?.region ?? location,
  };
  const versions: ImageVersionService = new ImageVersionService(
    store,
    regions,
    placement,
    config.limits.imageVersionsPerRegion,
    () => worker.wake(),
    checkVhdUri,
    (disk) => disks.emptyContent(disk),
  );
  const applicationVersions = new ApplicationVersionService(
    store,
    regions,
    placement,
    () => worker.wake(),
    checkFileUri,
  );
  const disks: DiskService = new DiskService(store, regions, config.dataDir, versions);
  const chunkStore = (location: string) => disks.chunkStore(location);
  const worker: ReplicationWorker = new ReplicationWorker(
    {
      store,
      versions: [versions, applicationVersions],
      validate: (version, signal) =>
        validateVersion(
          { store, versions, chunkStore, regionOf: placement.regionOf },
          version,
          signal,
        ),
      logger,
      chunkStore,
      ingestUri: ingestUriSource,
      regionOf: placement.regionOf,
    },
    { concurrency: Math.max(1, config.replicationConcurrency) },
  );
  const gc = new GcSchedule(
    (location) => disks.collectGarbage(location, config.gcGraceSeconds * 1000),
    () => regions.allStorageLocations().map((l) => l.id),
    config.gcIntervalSeconds * 1000,
    logger,
  );
  const app = buildServer({
    config,
    logger,
    tls,
    store,
    tokens,
    regions,
    groups: new ResourceGroupService(store, regions),
    galleries: new ResourceService(store, galleryRules(config.limits.galleriesPerRegion), regions),
    images: new ResourceService(
      store,
      imageDefinitionRules(config.limits.imageDefinitionsPerRegion),
      regions,
    ),
    applications: new ResourceService(store, applicationRules(), regions),
    disks,
    versions,
    applicationVersions,
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await store.close();
    throw err;
  }
  const port = (app.server.address() as { port: number }).port;
  const url = config.publicUrl ?? `https://localhost:${port}`;
  app.ocgPublicUrl = url;
  tokens.bind(url);
  const credentialsFile = join(config.dataDir, "credentials.json");
  const admin = await bootstrapIdentity(store, credentialsFile, {
    publicUrl: url,
    caCertificatePath: tls.caCertificatePath,
  });
  app.ocgAdminClientId = admin.clientId;
  if (config.replicationConcurrency > 0) worker.start();
  gc.start();
  app.markReady();
  logger.info({ url, dataDir: config.dataDir }, "ocg is ready");
  return {
    url,
    config,
    credentialsFile,
    caCertificatePath: tls.caCertificatePath,
    logger,
    replicaLoad: disks.replicaLoad,
    collectGarbage: () => gc.runOnce(),
    async close() {
      await worker.stop();
      await gc.stop();
      await app.close();
      await store.close();
    },
  };
}
