/** `{ value, nextLink }` pages; the continuation rides in `$skiptoken`, as ARM lists do. */
import { Readable } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
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

/** Pieces of a page's answer: small enough for malloc to reuse, large enough to write few. */
const CHUNK = 64 * 1024;

/**
 * Sends a page: the text of `JSON.stringify({ value, nextLink })`, written item by item into
 * buffers of 64 KB and streamed with its Content-Length. A page of 1,000 items is about 1 MB of
 * JSON. As one string it landed in V8's large-object space, which only a full collection frees
 * (under list load the heap grew by every page sent until one ran, some 100 MB); as one Buffer,
 * each answer still needed contiguous megabytes outside the heap, copied again on the way into
 * TLS. In pieces, the memory is reused from answer to answer and is freed as the pieces are written.
 */
export function sendPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: Page<T>,
  render: (item: T) => unknown,
) {
  const chunks: Buffer[] = [];
  let chunk = Buffer.allocUnsafe(CHUNK);
  let at = 0;
  let length = 0;
  const flush = () => {
    if (at === 0) return;
    chunks.push(chunk.subarray(0, at));
    length += at;
    chunk = Buffer.allocUnsafe(CHUNK);
    at = 0;
  };
  const add = (text: string) => {
    const bytes = Buffer.byteLength(text);
    if (at + bytes > CHUNK) {
      flush();
      if (bytes > CHUNK) {
        chunks.push(Buffer.from(text));
        length += bytes;
        return;
      }
    }
    at += chunk.write(text, at);
  };
  add('{"value":[');
  for (let i = 0; i < page.items.length; i++) {
    const json = JSON.stringify(render(page.items[i]!));
    add(i === 0 ? json : `,${json}`);
  }
  let tail = "]";
  if (page.continuation) {
    const url = new URL(request.url, baseUrlOf(request));
    url.searchParams.set("$skiptoken", page.continuation);
    tail += `,"nextLink":${JSON.stringify(url.toString())}`;
  }
  add(`${tail}}`);
  flush();
  return reply
    .type("application/json; charset=utf-8")
    .header("content-length", length)
    .send(Readable.from(chunks, { objectMode: false }));
}
