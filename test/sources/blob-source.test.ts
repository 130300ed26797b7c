/**
 * Sources read through a URI (src/sources/) against Azurite's blob service, with blobs put there by
 * the real `@azure/storage-blob`: the corpus VHD as a sparse page blob ingested through a SAS URL
 * gives the same manifest as a local ingest of the file while downloading only its data; every way
 * a source can be wrong is a typed `BlobSourceError`, refused before any chunk is written; a small
 * local HTTP server shows retries and servers that are not Azure Storage.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ChunkStore } from "../../src/blobs/chunk-store.js";
import { FsBlobDriver } from "../../src/blobs/fs-driver.js";
import { bufferRandomAccess, fileRandomAccess } from "../../src/formats/random-access.js";
import { createVhdFooter, MIB, type VhdErrorReason } from "../../src/formats/vhd.js";
import { openBlobSource, type BlobSourceOptions } from "../../src/sources/blob-source.js";
import {
  azureErrorOf,
  BlobSourceError,
  type BlobSourceErrorReason,
} from "../../src/sources/errors.js";
import { ingestFromUri } from "../../src/sources/ingest.js";
import { corpusDir, corpusFile } from "../formats/images.js";
import { startAzurite, sumOf, uploadSparsePageBlob, type Azurite } from "../helpers/azurite.js";
import { tempDir } from "../helpers/server.js";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const ACCOUNT_ID =
  "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1";
/** Fail fast: no backoff worth waiting for in tests. */
const quick: BlobSourceOptions = { retry: { attempts: 2, baseDelayMs: 5 } };

const dirs: string[] = [];
function freshStore(): { store: ChunkStore; root: string } {
  const root = tempDir("src-chunks");
  dirs.push(root);
  return { store: new ChunkStore(new FsBlobDriver(root)), root };
}
function chunkFiles(root: string): number {
  const dir = join(root, "chunks");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .length;
}

const rejectsWith =
  (reason: BlobSourceErrorReason, vhd?: VhdErrorReason) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof BlobSourceError, `expected a BlobSourceError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (vhd) assert.equal(e.vhdError?.reason, vhd, e.message);
    assert.doesNotMatch(e.message, /sig=/, "no SAS in messages");
    return true;
  };

/** A fixed VHD of `mib` MiB: random data in a few places, zeros elsewhere, then the footer. */
function smallVhd(mib: number): Buffer {
  const size = mib * MIB;
  const buf = Buffer.alloc(size + 512);
  randomBytes(64 * 1024).copy(buf, 0);
  randomBytes(3 * MIB).copy(buf, 5 * MIB + 4096);
  randomBytes(8192).copy(buf, size - 8192);
  createVhdFooter(size).copy(buf, size);
  return buf;
}

describe("sources read through a URI, against Azurite", () => {
  let az: Azurite;
  const container = "vhds";
  const small = smallVhd(24);

  before(async () => {
    az = await startAzurite();
    const c = az.service.getContainerClient(container);
    await c.create();
    const put = async (name: string, data: Buffer) => {
      const blob = c.getPageBlobClient(name);
      await blob.create(data.length);
      for (let at = 0; at < data.length; at += 4 * MIB) {
        const piece = data.subarray(at, Math.min(data.length, at + 4 * MIB));
        if (piece.some((b) => b !== 0)) await blob.uploadPages(piece, at, piece.length);
      }
    };
    await put("small.vhd", small);
    // Truncated by 1 MiB: the footer is last but says the disk is 1 MiB larger.
    const cut = Buffer.concat([small.subarray(0, 22 * MIB), small.subarray(24 * MIB)]);
    await put("cut.vhd", cut);
    // 512 bytes of padding after the footer.
    await put("padded.vhd", Buffer.concat([small, Buffer.alloc(512, 7)]));
    // Not a VHD at all.
    await put("random.bin", randomBytes(2 * MIB));
    // A VHD as a block blob.
    await c.getBlockBlobClient("block.vhd").uploadData(small);
  });

  after(async () => {
    await az?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test("opens a page blob: properties and page ranges from Get Blob Properties / Get Page Ranges", async () => {
    const source = await openBlobSource(az.sasUrl(container, "small.vhd"), {
      storageAccountId: ACCOUNT_ID,
    });
    try {
      assert.equal(source.size, small.length);
      assert.equal(source.properties.blobType, "PageBlob");
      assert.ok(source.properties.etag);
      assert.doesNotMatch(source.uri, /\?/);
      // Written: pieces 0, 1-2 (the 3 MiB extent spans them) and 5 (the end and the footer).
      // Written: 4 MiB pieces 0-2 (the 3 MiB extent spans 1 and 2), 5 (the disk's end) and the
      // footer's, adjacent ones merged.
      assert.deepEqual(source.dataRanges, [
        [0, 12 * MIB - 1],
        [20 * MIB, 24 * MIB + 511],
      ]);
      const all = await source.read(0, source.size);
      assert.ok(all.equals(small));
      // A read inside the hole is zeros and costs no request.
      const before = source.stats.requests;
      const hole = await source.read(14 * MIB, MIB);
      assert.ok(hole.equals(Buffer.alloc(MIB)));
      assert.equal(source.stats.requests, before);
    } finally {
      source.close();
    }
  });

  test("ingests a small VHD: manifest digest = sha256 of the blob, chunks = local ingest", async () => {
    const { store } = freshStore();
    const result = await ingestFromUri(store, az.sasUrl(container, "small.vhd"), {
      kind: "vhd",
      storageAccountId: ACCOUNT_ID,
    });
    assert.equal(result.manifest.sha256, sha256(small));
    assert.equal(result.manifest.size, small.length);
    assert.equal(result.footer?.currentSize, 24 * MIB);
    const local = await freshStore().store.ingest(bufferRandomAccess(small));
    assert.deepEqual(result.manifest, local);
  });

  test("a missing blob, or a missing container, is not-found", async () => {
    const { store, root } = freshStore();
    await assert.rejects(
      ingestFromUri(store, az.sasUrl(container, "nope.vhd"), { kind: "vhd", ...quick }),
      rejectsWith("not-found"),
    );
    await assert.rejects(
      ingestFromUri(store, az.sasUrl("nocontainer", "x.vhd"), { kind: "vhd", ...quick }),
      rejectsWith("not-found"),
    );
    assert.equal(chunkFiles(root), 0);
  });

  test("a SAS with a wrong signature is access-denied, an expired one sas-expired", async () => {
    const { store, root } = freshStore();
    const good = new URL(az.sasUrl(container, "small.vhd"));
    const sig = good.searchParams.get("sig")!;
    good.searchParams.set("sig", Buffer.from(sha256(Buffer.from(sig)), "hex").toString("base64"));
    await assert.rejects(
      ingestFromUri(store, good.toString(), { kind: "vhd", ...quick }),
      rejectsWith("access-denied"),
    );
    const expired = az.sasUrl(container, "small.vhd", { expiresOn: new Date(Date.now() - 60_000) });
    await assert.rejects(
      ingestFromUri(store, expired, { kind: "vhd", ...quick }),
      rejectsWith("sas-expired"),
    );
    // No SAS at all on a private container.
    const bare = `${az.url}/${container}/small.vhd`;
    await assert.rejects(ingestFromUri(store, bare, { kind: "vhd", ...quick }), (e: unknown) => {
      assert.ok(e instanceof BlobSourceError);
      assert.ok(["access-denied", "not-found"].includes(e.reason), e.message);
      return true;
    });
    assert.equal(chunkFiles(root), 0);
  });

  test("a block blob given as a disk source is not-page-blob", async () => {
    const { store, root } = freshStore();
    await assert.rejects(
      ingestFromUri(store, az.sasUrl(container, "block.vhd"), { kind: "vhd" }),
      rejectsWith("not-page-blob"),
    );
    assert.equal(chunkFiles(root), 0);
  });

  test("a truncated, padded or non-VHD page blob is invalid-vhd, refused before any chunk", async () => {
    const { store, root } = freshStore();
    for (const [name, vhd] of [
      ["cut.vhd", "size-mismatch"],
      ["padded.vhd", "misaligned"],
      ["random.bin", "no-footer"],
    ] as const) {
      await assert.rejects(
        ingestFromUri(store, az.sasUrl(container, name), { kind: "vhd" }),
        rejectsWith("invalid-vhd", vhd),
      );
    }
    assert.equal(chunkFiles(root), 0, "nothing written for a refused source");
  });

  test("errors map to 400 InvalidParameter with Azure's wording and no SAS", async () => {
    const err = await ingestFromUri(freshStore().store, az.sasUrl(container, "padded.vhd"), {
      kind: "vhd",
    }).catch((e: unknown) => e as BlobSourceError);
    const arm = azureErrorOf(err as BlobSourceError, "galleryImageVersion.properties.x");
    assert.equal(arm.kind, "validation");
    assert.equal(arm.code, "InvalidParameter");
    assert.match(arm.message, /^Only blobs formatted as VHDs can be imported/);
    assert.doesNotMatch(arm.message, /sig=|\?/);
    const missing = await openBlobSource(az.sasUrl(container, "nope"), quick).catch(
      (e: unknown) => e as BlobSourceError,
    );
    assert.match(
      azureErrorOf(missing as BlobSourceError, "t").message,
      /^The source blob http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/vhds\/nope is not accessible\.$/,
    );
  });

  test("bad URIs and another storage account are refused without a request", async () => {
    const { store } = freshStore();
    for (const uri of ["vhds/small.vhd", "ftp://host/x", "https://host/"]) {
      await assert.rejects(ingestFromUri(store, uri, { kind: "vhd" }), rejectsWith("bad-uri"));
    }
    await assert.rejects(
      ingestFromUri(store, az.sasUrl(container, "small.vhd"), {
        kind: "vhd",
        storageAccountId: ACCOUNT_ID.replace(/devstoreaccount1$/, "other"),
      }),
      rejectsWith("account-mismatch"),
    );
    await assert.rejects(
      openBlobSource("https://acct.blob.core.windows.net/c/b", { storageAccountId: "/nope" }),
      rejectsWith("bad-uri"),
    );
  });

  test("an unreachable host is unreachable after the retries", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    const { store } = freshStore();
    await assert.rejects(
      ingestFromUri(store, `http://127.0.0.1:${port}/devstoreaccount1/c/b.vhd`, {
        kind: "vhd",
        ...quick,
      }),
      (e: unknown) => rejectsWith("unreachable")(e) && /ECONNREFUSED/.test((e as Error).message),
    );
  });

  test("a blob changed after it was opened is changed (If-Match), not a mix of versions", async () => {
    const c = az.service.getContainerClient(container);
    const blob = c.getPageBlobClient("changing.vhd");
    await blob.create(small.length);
    await blob.uploadPages(small.subarray(0, 4 * MIB), 0, 4 * MIB);
    const source = await openBlobSource(az.sasUrl(container, "changing.vhd"));
    try {
      await blob.uploadPages(Buffer.alloc(512, 1), 0, 512);
      await assert.rejects(source.read(0, 4096), rejectsWith("changed"));
    } finally {
      source.close();
    }
  });

  test("a mediaLink (block blob, kind file): size and SHA-256 recorded", async () => {
    const data = randomBytes(3 * MIB + 123);
    await az.service.getContainerClient(container).getBlockBlobClient("app.zip").uploadData(data);
    const { store } = freshStore();
    const result = await ingestFromUri(store, az.sasUrl(container, "app.zip"), { kind: "file" });
    assert.equal(result.properties.blobType, "BlockBlob");
    assert.equal(result.manifest.size, data.length);
    assert.equal(result.manifest.sha256, sha256(data));
    const back = await store.read(result.manifest, 0, data.length);
    assert.ok(back.equals(data));
  });

  test("a public blob is read without a SAS", async () => {
    const pub = az.service.getContainerClient("public");
    await pub.create({ access: "blob" });
    const data = randomBytes(100_000);
    await pub.getBlockBlobClient("cfg.json").uploadData(data);
    const result = await ingestFromUri(freshStore().store, `${az.url}/public/cfg.json`, {
      kind: "file",
    });
    assert.equal(result.manifest.sha256, sha256(data));
  });

  test("an abort stops the ingest with the abort reason and no manifest", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    const { store } = freshStore();
    await assert.rejects(
      ingestFromUri(store, az.sasUrl(container, "small.vhd"), {
        kind: "vhd",
        signal: controller.signal,
        onProgress: (p) => {
          if (p.chunks === 3) controller.abort(reason);
        },
      }),
      (e) => e === reason,
    );
  });

  describe("the corpus VHD (4 GiB, sparse) as a page blob", () => {
    let uploaded = 0;
    before(async () => {
      const client = az.service.getContainerClient(container).getPageBlobClient("debian-v1.vhd");
      uploaded = await uploadSparsePageBlob(client, corpusFile("debian-v1.vhd"));
    });

    test("ingests to the same manifest as a local ingest, downloading only the data", async () => {
      const path = corpusFile("debian-v1.vhd");
      const expected = await sumOf(join(corpusDir, "SHA256SUMS"), "debian-v1.vhd");
      const remote = freshStore();
      const result = await ingestFromUri(remote.store, az.sasUrl(container, "debian-v1.vhd"), {
        kind: "vhd",
        storageAccountId: ACCOUNT_ID,
      });
      assert.equal(result.manifest.sha256, expected);
      assert.equal(result.dataBytes, uploaded);
      assert.ok(
        result.stats.bytesFetched <= uploaded + 16 * MIB,
        `fetched ${result.stats.bytesFetched} for ${uploaded} bytes of data`,
      );
      assert.ok(result.stats.bytesFetched < result.manifest.size / 4);

      const file = await fileRandomAccess(path);
      try {
        const local = await freshStore().store.ingest(file);
        assert.equal(local.sha256, expected);
        assert.deepEqual(result.manifest.chunks, local.chunks);
        assert.deepEqual(result.manifest, local);
      } finally {
        await file.close();
      }
    });
  });
});

describe("sources on plain HTTP servers", () => {
  let server: Server;
  let url: string;
  const data = randomBytes(5 * MIB + 1000);
  let requests = 0;
  let fail = (_n: number) => false;
  let ranges = true;

  before(async () => {
    server = createServer((req, res) => {
      requests++;
      if (fail(requests)) {
        res.writeHead(503).end();
        return;
      }
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
      if (req.method === "HEAD" || !m || !ranges) {
        res.writeHead(200, { "content-length": data.length, etag: '"v1"' });
        res.end(req.method === "HEAD" ? undefined : data);
        return;
      }
      const [a, b] = [Number(m[1]), Number(m[2])];
      res.writeHead(206, {
        "content-length": b - a + 1,
        "content-range": `bytes ${a}-${b}/${data.length}`,
      });
      res.end(data.subarray(a, b + 1));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pkg/app.zip`;
  });
  after(() => new Promise((r) => server.close(r)));

  test("5xx answers are retried; the content is read whole", async () => {
    requests = 0;
    fail = (n) => n % 2 === 0;
    const result = await ingestFromUri(freshStore().store, url, {
      kind: "file",
      retry: { attempts: 3, baseDelayMs: 1 },
      blockSize: MIB,
      concurrency: 1, // so that a request's retry is the next request
    });
    assert.equal(result.manifest.sha256, sha256(data));
    assert.ok(result.stats.retries > 0);
    assert.equal(result.properties.blobType, undefined);
  });

  test("5xx beyond the retries is server-error; a disk source must be a page blob", async () => {
    fail = () => true;
    await assert.rejects(
      ingestFromUri(freshStore().store, url, { kind: "file", ...quick }),
      rejectsWith("server-error"),
    );
    fail = () => false;
    await assert.rejects(
      ingestFromUri(freshStore().store, url, { kind: "vhd" }),
      rejectsWith("not-page-blob"),
    );
  });

  test("a server that ignores Range is no-range-support", async () => {
    ranges = false;
    try {
      await assert.rejects(
        ingestFromUri(freshStore().store, url, { kind: "file", blockSize: MIB }),
        rejectsWith("no-range-support"),
      );
    } finally {
      ranges = true;
    }
  });
});
