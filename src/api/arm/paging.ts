/** `{ value, nextLink }` pages; the continuation rides in `$skiptoken`, as ARM lists do. */
import type { FastifyRequest } from "fastify";
import type { Page } from "../../domain/resource.js";
import { baseUrlOf } from "./lro.js";

export function pageRequest(request: FastifyRequest) {
  const query = request.query as Record<string, string | undefined>;
  const top = Number(query.$top);
  const limit =
    Number.isInteger(top) && top > 0
      ? Math.min(top, request.server.ocgPageSize)
      : request.server.ocgPageSize;
  return { continuation: query.$skiptoken, limit };
}

export function pageBody<T, W>(request: FastifyRequest, page: Page<T>, render: (item: T) => W) {
  const value = page.items.map(render);
  if (!page.continuation) return { value };
  const url = new URL(request.url, baseUrlOf(request));
  url.searchParams.set("$skiptoken", page.continuation);
  return { value, nextLink: url.toString() };
}
