/**
 * A page is sent in pieces (sendPage) but reads as JSON.stringify of `{ value, nextLink }`, with
 * its Content-Length: items of every size, across and beyond the 64 KB pieces, non-ASCII text.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import fc from "fast-check";
import { sendPage } from "../../src/api/arm/paging.js";

test("a page sent in pieces is the JSON of the whole page", async () => {
  const app = Fastify();
  let page: { items: unknown[]; continuation?: string } = { items: [] };
  app.get("/list", (request, reply) => sendPage(request, reply, page, (item) => ({ item })));
  app.decorate("ocgPublicUrl", "https://localhost:4443");
  const text = fc.oneof(
    fc.string({ maxLength: 50 }),
    fc.string({ unit: "binary", maxLength: 50 }),
    fc.nat({ max: 150_000 }).map((n) => "é".repeat(n)),
    fc.nat({ max: 70_000 }).map((n) => "x".repeat(n)),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(text, { maxLength: 40 }),
      fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
      async (items, continuation) => {
        page = { items, continuation };
        const res = await app.inject({ url: "/list?api-version=1&$top=2" });
        const value = items.map((item) => ({ item }));
        // As the page was made before it was sent in pieces.
        const url = new URL("/list?api-version=1&$top=2", "https://localhost:80");
        if (continuation) url.searchParams.set("$skiptoken", continuation);
        const want = continuation ? { value, nextLink: url.toString() } : { value };
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers["content-type"], "application/json; charset=utf-8");
        assert.equal(res.headers["content-length"], String(res.rawPayload.length));
        assert.equal(res.body, JSON.stringify(want));
      },
    ),
    { numRuns: 150 },
  );
  await app.close();
});
