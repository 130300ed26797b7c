/**
 * The HTTPS ARM server: Fastify with ARM's conventions applied once for every route — request ids,
 * authentication and api-version checks, the error envelope, case-insensitive paths.
 */
import { randomUUID } from "node:crypto";
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config/config.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { Store } from "../domain/resource.js";
import type { TokenService } from "../identity/tokens.js";
import type { ResourceGroupService } from "../resources/resource-groups.js";
import { ArmError, sendArmError } from "./arm/errors.js";
import { lazyValidatorCompiler } from "./arm/validation.js";
import { armGate } from "./auth.js";
import { lazyChildLoggerFactory } from "./request-logger.js";
import type { DiskService } from "../disks/disk-service.js";
import type { ImageVersionService } from "../gallery/version-service.js";
import type { VersionService } from "../gallery/version-lifecycle.js";
import { applicationVersionRoutes } from "./routes/application-versions.js";
import { blobAccessRoutes } from "./routes/blob-access.js";
import { diskRoutes } from "./routes/disks.js";
import { galleryRoutes, type GalleryServices } from "./routes/galleries.js";
import { diagnosticsRoutes } from "./routes/diagnostics.js";
import { imageVersionRoutes } from "./routes/image-versions.js";
import { identityRoutes } from "./routes/identity.js";
import { operationRoutes } from "./routes/operations.js";
import { regionAccessRoutes } from "./routes/region-access.js";
import { resourceGroupRoutes } from "./routes/resource-groups.js";
import { subscriptionRoutes } from "./routes/subscriptions.js";
import { usageRoutes } from "./routes/usages.js";
import "./types.js";

export interface ServerDeps extends GalleryServices {
  config: Config;
  logger: Logger;
  tls: { cert: string; key: string };
  store: Store;
  tokens: TokenService;
  regions: RegionCatalog;
  groups: ResourceGroupService;
  disks: DiskService;
  versions: ImageVersionService;
  applicationVersions: VersionService;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    https: { cert: deps.tls.cert, key: deps.tls.key },
    bodyLimit: deps.config.bodyLimitBytes,
    routerOptions: {
      caseSensitive: false,
      ignoreTrailingSlash: true,
      ignoreDuplicateSlashes: true,
      // Longer than any URL Node accepts: a too-long name reaches the name rules, which name the
      // parameter, instead of the router's own 414 (default: 100 characters).
      maxParamLength: 16 * 1024,
    },
    // The router's own refusals (a malformed %-escape in the path) in the ARM envelope too.
    frameworkErrors: (err, request, reply) => {
      reply.header("x-ms-request-id", request.id);
      sendArmError(request, reply, err);
    },
    genReqId: () => randomUUID(),
    childLoggerFactory: lazyChildLoggerFactory,
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(lazyValidatorCompiler());
  app.decorate("ocgPublicUrl", "");
  app.decorate("ocgPageSize", deps.config.pageSize);
  app.decorate("ocgAdminClientId", "");
  app.decorateRequest("armApiVersion", "");
  app.decorateRequest("armClaims", null);

  let ready = false;
  app.decorate("markReady", () => {
    ready = true;
  });

  const gate = armGate(deps.tokens, deps.store, deps.config.loose);
  // A callback hook rather than an async one: the gate almost always decides without waiting,
  // and then the request goes on without a promise and a microtask turn.
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-ms-request-id", request.id);
    const correlation = request.headers["x-ms-correlation-request-id"];
    reply.header(
      "x-ms-correlation-request-id",
      typeof correlation === "string" ? correlation : request.id,
    );
    const clientRequestId = request.headers["x-ms-client-request-id"];
    if (typeof clientRequestId === "string")
      reply.header("x-ms-client-request-id", clientRequestId);
    if (!ready && request.url !== "/healthz") {
      throw new ArmError(503, "ServiceUnavailable", "The server is starting; retry in a moment.");
    }
    const pending = gate(request);
    if (pending) {
      pending.then(() => requireJson(request)).then(() => done(), done);
      return;
    }
    requireJson(request);
    done();
  });

  app.setErrorHandler((err, request, reply) => sendArmError(request, reply, err));
  app.setNotFoundHandler((request, reply) =>
    sendArmError(
      request,
      reply,
      new ArmError(
        404,
        "NotFound",
        `No resource or action matches '${request.method} ${request.url.split("?")[0]}'. Check the path and the resource type.`,
      ),
    ),
  );

  app.get("/healthz", async (_request, reply) =>
    ready ? { status: "ok" } : reply.code(503).send({ status: "starting" }),
  );
  identityRoutes(app, deps);
  subscriptionRoutes(app, deps);
  resourceGroupRoutes(app, deps);
  galleryRoutes(app, deps);
  imageVersionRoutes(app, deps);
  applicationVersionRoutes(app, deps);
  diagnosticsRoutes(app, { replicaLoad: deps.disks.replicaLoad });
  operationRoutes(app, deps);
  diskRoutes(app, deps);
  blobAccessRoutes(app, deps);
  usageRoutes(app, { ...deps, limits: deps.config.limits });
  regionAccessRoutes(app, deps);
  return app;
}

/**
 * ARM takes JSON only. Fastify would parse text/plain (to a string) and, for the token endpoint,
 * forms (to an object), and the schema would then blame the body's shape; refuse the media type.
 */
function requireJson(request: FastifyRequest) {
  if (!request.routeOptions.config.arm) return;
  const length = request.headers["content-length"];
  const hasBody =
    (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined;
  if (!hasBody) return;
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json" || type.endsWith("+json")) return;
  throw new ArmError(
    415,
    "UnsupportedMediaType",
    `The content media type '${type.slice(0, 100) || "(none)"}' is not supported. Use 'application/json'.`,
    "Content-Type",
  );
}

declare module "fastify" {
  interface FastifyInstance {
    markReady(): void;
  }
}
