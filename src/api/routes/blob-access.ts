/**
 * The page-blob endpoint behind disk access URLs (`/<account>/<container>/<blob>?<sas>`), in Azure
 * Storage's REST dialect, as `@azure/storage-blob`'s PageBlobClient uses it: Put Page
 * (`comp=page`), Get Blob (whole or ranged), Get Page Ranges (`comp=pagelist`), Get Blob
 * Properties (HEAD). No ARM token: the SAS is the credential. Errors are Storage's XML
 * (`<Error><Code>…</Code><Message>…</Message></Error>`); every answer carries `x-ms-request-id`
 * and echoes `x-ms-version` (any version is accepted).
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { MAX_PAGE_WRITE, StorageError, type DiskService } from "../../disks/disk-service.js";

const PAGE = 512;
const SERVICE_VERSION = "2026-10-06";

function xmlEscape(s: string) {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendStorageError(request: FastifyRequest, reply: FastifyReply, err: unknown) {
  let e: StorageError;
  if (err instanceof StorageError) e = err;
  else {
    const fe = err as { code?: string; statusCode?: number; message?: string };
    if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      e = new StorageError(
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
      );
    } else if (typeof fe.statusCode === "number" && fe.statusCode < 500) {
      e = new StorageError(
        fe.statusCode,
        "InvalidInput",
        fe.message ?? "One of the request inputs is not valid.",
      );
    } else {
      request.log.error({ err }, "blob request failed");
      e = new StorageError(
        500,
        "InternalError",
        "The server encountered an internal error. Please retry the request.",
      );
    }
  }
  const message = `${e.message}\nRequestId:${request.id}\nTime:${new Date().toISOString()}`;
  const detail = e.detail
    ? `<AuthenticationErrorDetail>${xmlEscape(e.detail)}</AuthenticationErrorDetail>`
    : "";
  reply
    .code(e.status)
    .header("x-ms-error-code", e.code)
    .type("application/xml")
    .send(
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${e.code}</Code><Message>${xmlEscape(message)}</Message>${detail}</Error>`,
    );
}

/** `bytes=a-b` (from `x-ms-range`, else `Range`); `b` may be open (`bytes=a-`). */
function rangeOf(request: FastifyRequest): { start: number; end?: number } | undefined {
  const raw = request.headers["x-ms-range"] ?? request.headers.range;
  if (raw === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(String(raw).trim());
  if (!m) {
    throw new StorageError(
      400,
      "InvalidHeaderValue",
      "The value for one of the HTTP headers is not in the correct format.",
    );
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? undefined : Number(m[2]);
  if (end !== undefined && end < start) {
    throw new StorageError(
      416,
      "InvalidRange",
      "The range specified is invalid for the current size of the resource.",
    );
  }
  return { start, end };
}

export function blobAccessRoutes(app: FastifyInstance, deps: { disks: DiskService }) {
  const { disks } = deps;
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      "*",
      { parseAs: "buffer", bodyLimit: MAX_PAGE_WRITE },
      (_request, body, done) => done(null, body),
    );
    scope.setErrorHandler((err, request, reply) => sendStorageError(request, reply, err));
    scope.addHook("onRequest", async (request, reply) => {
      reply.header("x-ms-request-id", randomUUID());
      reply.header("x-ms-version", request.headers["x-ms-version"] ?? SERVICE_VERSION);
      reply.header("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0");
    });

    const blobPath = (request: FastifyRequest) =>
      request.params as { account: string; container: string; blob: string };
    const query = (request: FastifyRequest) => request.query as Record<string, unknown>;
    const common = (reply: FastifyReply, c: { etag: string; lastModified: Date }) =>
      reply
        .header("ETag", c.etag)
        .header("Last-Modified", c.lastModified.toUTCString())
        .header("x-ms-blob-type", "PageBlob");

    // Only disk accounts (`md-` + hex, see disks/sas.ts): any other three-segment path, such as
    // `/subscriptions/{s}/resourcegroups/` with an empty name, stays an ARM path.
    const ROUTE = "/:account(^md-[0-9a-f]{12}$)/:container/:blob";

    scope.put(ROUTE, async (request, reply) => {
      const q = query(request);
      if (q.comp !== "page") {
        throw new StorageError(
          400,
          "UnsupportedQueryParameter",
          "Only Put Page (comp=page) is supported on a disk access URL: the blob exists already.",
        );
      }
      // Authenticate before looking at the request's shape: an unsigned caller learns nothing.
      const opened = await disks.open(blobPath(request), q);
      const range = rangeOf(request);
      if (!range || range.end === undefined) {
        throw new StorageError(
          400,
          "MissingRequiredHeader",
          "An HTTP header that's mandatory for this request is not specified: x-ms-range.",
        );
      }
      const { start, end } = range;
      const length = end - start + 1;
      if (start % PAGE !== 0 || length % PAGE !== 0) {
        throw new StorageError(
          416,
          "InvalidPageRange",
          `The page range specified is invalid: bytes=${start}-${end} is not aligned to 512-byte pages.`,
        );
      }
      if (end >= opened.content.size) {
        throw new StorageError(
          416,
          "InvalidPageRange",
          `The page range specified is invalid: bytes=${start}-${end} is beyond the blob's size of ${opened.content.size} bytes.`,
        );
      }
      if (length > MAX_PAGE_WRITE) {
        throw new StorageError(
          413,
          "RequestBodyTooLarge",
          "The request body is too large and exceeds the maximum permissible limit (4 MiB).",
        );
      }
      const mode = String(request.headers["x-ms-page-write"] ?? "").toLowerCase();
      const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      if (mode === "update") {
        if (body.length !== length) {
          throw new StorageError(
            400,
            "InvalidHeaderValue",
            `The value for one of the HTTP headers is not in the correct format: the body is ${body.length} bytes, the range bytes=${start}-${end} is ${length}.`,
          );
        }
        await disks.writePages(blobPath(request), q, start, body);
      } else if (mode === "clear") {
        if (body.length !== 0) {
          throw new StorageError(
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format: a clear carries no body.",
          );
        }
        await disks.writePages(blobPath(request), q, start, { clear: length });
      } else {
        throw new StorageError(
          400,
          "InvalidHeaderValue",
          "The value for one of the HTTP headers is not in the correct format: x-ms-page-write must be 'update' or 'clear'.",
        );
      }
      const after = (await disks.open(blobPath(request), q)).content;
      return reply
        .code(201)
        .header("ETag", after.etag)
        .header("Last-Modified", after.lastModified.toUTCString())
        .header("x-ms-blob-sequence-number", "0")
        .header("x-ms-request-server-encrypted", "true")
        .send();
    });

    scope.head(ROUTE, async (request, reply) => {
      const { content } = await disks.open(blobPath(request), query(request));
      return common(reply, content)
        .header("Content-Length", String(content.size))
        .header("Content-Type", "application/octet-stream")
        .header("x-ms-blob-sequence-number", "0")
        .header("x-ms-server-encrypted", "true")
        .header("Accept-Ranges", "bytes")
        .code(200)
        .send();
    });

    scope.get(ROUTE, async (request, reply) => {
      const q = query(request);
      const { content } = await disks.open(blobPath(request), q);
      if (q.comp === "pagelist") {
        const range = rangeOf(request);
        const from = range?.start ?? 0;
        const to = range?.end ?? content.size - 1;
        const pages = (await content.pageRanges())
          .filter(([a, b]) => b >= from && a <= to)
          .map(
            ([a, b]) =>
              `<PageRange><Start>${Math.max(a, from)}</Start><End>${Math.min(b, to)}</End></PageRange>`,
          )
          .join("");
        return common(reply, content)
          .header("x-ms-blob-content-length", String(content.size))
          .type("application/xml")
          .code(200)
          .send(`<?xml version="1.0" encoding="utf-8"?><PageList>${pages}</PageList>`);
      }
      if (q.comp !== undefined) {
        throw new StorageError(
          400,
          "UnsupportedQueryParameter",
          `comp=${String(q.comp)} is not supported on a disk access URL.`,
        );
      }
      const range = rangeOf(request);
      common(reply, content)
        .header("Content-Type", "application/octet-stream")
        .header("Accept-Ranges", "bytes")
        .header("x-ms-blob-sequence-number", "0")
        .header("x-ms-server-encrypted", "true");
      if (!range) {
        reply.header("Content-Length", String(content.size)).code(200);
        return reply.send(content.stream(0, content.size - 1));
      }
      if (range.start >= content.size) {
        throw new StorageError(
          416,
          "InvalidRange",
          "The range specified is invalid for the current size of the resource.",
        );
      }
      const end = Math.min(range.end ?? content.size - 1, content.size - 1);
      reply
        .header("Content-Length", String(end - range.start + 1))
        .header("Content-Range", `bytes ${range.start}-${end}/${content.size}`)
        .header("x-ms-blob-content-length", String(content.size))
        .code(206);
      return reply.send(content.stream(range.start, end));
    });
  });
}
