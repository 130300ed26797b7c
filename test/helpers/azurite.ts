/**
 * Azurite's blob service for one test file: started on a free port (port 0, the port read from
 * its start-up line) with a temp workspace, plain HTTP, the well-known devstoreaccount1 account,
 * and stopped (its process, by pid) after the tests. Clients are the real `@azure/storage-blob`.
 *
 * Where `azurite-blob` comes from: $OCG_AZURITE_BLOB, else the project's node_modules/.bin (it is a
 * devDependency). Without it the tests fail, saying how to install it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type PageBlobClient,
} from "@azure/storage-blob";
import { tempDir } from "./server.js";

/** Azurite's fixed development account (documented, public). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Azurite {
  /** http://127.0.0.1:{port}/devstoreaccount1 */
  readonly url: string;
  readonly port: number;
  readonly credential: StorageSharedKeyCredential;
  readonly service: BlobServiceClient;
  /** A read SAS URL for `container/blob`; `expiresOn` defaults to an hour from now. */
  sasUrl(container: string, blob: string, options?: { expiresOn?: Date }): string;
  stop(): Promise<void>;
}

export function azuriteBinary(): string {
  const candidates = [
    process.env.OCG_AZURITE_BLOB,
    resolve(import.meta.dirname, "..", "..", "node_modules", ".bin", "azurite-blob"),
  ];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) {
    assert.fail(
      "azurite is not installed: `npm ci` installs it (or set OCG_AZURITE_BLOB to an azurite-blob)",
    );
  }
  return found;
}

export async function startAzurite(): Promise<Azurite> {
  const location = tempDir("azurite");
  const child: ChildProcess = spawn(
    azuriteBinary(),
    [
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      "0",
      "--location",
      location,
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--silent",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 30_000);
    const onData = (data: Buffer) => {
      out += data.toString();
      const m = /listens on https?:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with code ${code}: ${out}`));
    });
  });
  const url = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
  const service = new BlobServiceClient(url, credential, { retryOptions: { maxTries: 1 } });
  return {
    url,
    port,
    credential,
    service,
    sasUrl(container, blob, { expiresOn = new Date(Date.now() + 3600_000) } = {}) {
      const sas = generateBlobSASQueryParameters(
        {
          containerName: container,
          blobName: blob,
          permissions: BlobSASPermissions.parse("r"),
          startsOn: new Date(Date.now() - 300_000),
          expiresOn,
          protocol: SASProtocol.HttpsAndHttp,
        },
        credential,
      );
      return `${url}/${container}/${blob}?${sas.toString()}`;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(location, { recursive: true, force: true });
    },
  };
}

/**
 * Uploads the file at `path` (a fixed VHD, size a multiple of 512) as a page blob, writing only
 * the 64 KiB granules that hold data, `parallel` Put Page requests of up to 4 MiB at once.
 * Returns the bytes written.
 */
export async function uploadSparsePageBlob(
  client: PageBlobClient,
  path: string,
  parallel = 8,
): Promise<number> {
  const GRANULE = 64 * 1024;
  const PIECE = 4 * 1024 * 1024;
  const file = await open(path, "r");
  try {
    const size = (await file.stat()).size;
    await client.create(size);
    const zeros = Buffer.alloc(GRANULE);
    const running = new Set<Promise<unknown>>();
    let written = 0;
    const put = async (offset: number, data: Buffer) => {
      const p: Promise<unknown> = client
        .uploadPages(data, offset, data.length)
        .then(() => running.delete(p));
      running.add(p);
      written += data.length;
      if (running.size >= parallel) await Promise.race(running);
    };
    for (let at = 0; at < size; at += PIECE) {
      const piece = Buffer.alloc(Math.min(PIECE, size - at));
      const { bytesRead } = await file.read(piece, 0, piece.length, at);
      assert.equal(bytesRead, piece.length);
      let runStart = -1;
      for (let g = 0; g < piece.length; g += GRANULE) {
        const end = Math.min(g + GRANULE, piece.length);
        const data = !piece.subarray(g, end).equals(zeros.subarray(0, end - g));
        if (data && runStart < 0) runStart = g;
        if (!data && runStart >= 0) {
          await put(at + runStart, piece.subarray(runStart, g));
          runStart = -1;
        }
      }
      if (runStart >= 0) await put(at + runStart, piece.subarray(runStart));
    }
    await Promise.all(running);
    return written;
  } finally {
    await file.close();
  }
}

/** The sha256 of `name` in a SHA256SUMS file (`<hex> [*]./name` lines). */
export async function sumOf(sumsPath: string, name: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  for (const line of (await readFile(sumsPath, "utf8")).split("\n")) {
    const [sum, file] = line.trim().split(/\s+\*?/);
    if (file && join(file) === join(name)) return sum!;
  }
  throw new Error(`${name} is not in ${sumsPath}`);
}
