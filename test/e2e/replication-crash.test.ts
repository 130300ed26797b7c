/**
 * Replication with real bytes and a real crash: the corpus GPT disk (Debian with a signed shim)
 * is uploaded through its access URL, published to three regions, and the server is killed with
 * SIGKILL while a replica is half copied. The restarted server resumes — the interrupted replica
 * copies only what it lacked — and every region then serves the original bytes; Trusted Launch
 * validation passes on it; a flipped byte in a stored chunk is an error, never wrong bytes.
 *
 * The three copies live on another file system (tmpfs, /dev/shm), configured as an operator would
 * (`storage`), so that every chunk is read, verified and written: between locations on one file
 * system chunks are hard-linked, which is over before a kill could catch it half done.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ResourceManagementClient } from "@azure/arm-resources";
import { ClientSecretCredential } from "@azure/identity";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { regionsStoringIn } from "../../src/config/config.js";
import { MIB } from "../../src/formats/vhd.js";
import { corpusFile } from "../formats/images.js";
import { noOtherFileSystem, shmDir } from "../helpers/file-systems.js";
import { sharedTls, tempDir } from "../helpers/server.js";

const root = resolve(import.meta.dirname, "../..");
const RG = "crash-rg";
const GALLERY = "g";
const IMAGE = "debian";
const HOME = "eastus";
/** Where the three copies go: eastus's second zone, westus, westeurope's first zone. */
const TARGETS = { "eastus-2": "eastus", westus: "westus", "westeurope-1": "westeurope" };

/** A directory on another file system than `dataDir`, for the copies. */
function copiesDirBeside(dataDir: string): string {
  const missing = noOtherFileSystem(dataDir);
  if (missing) throw new Error(`this test copies to tmpfs, but ${missing}`);
  return shmDir("ocg-crash");
}

interface Server {
  child: ChildProcess;
  url: string;
  logs: () => Record<string, unknown>[];
  compute: ComputeManagementClient;
  resources: ResourceManagementClient;
}

async function startOcg(dataDir: string, copies: string): Promise<Server> {
  const tls = sharedTls();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      join(root, "src/cli/ocg.ts"),
      "start",
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--log-level",
      "info",
      "--cert",
      tls.tlsCert,
      "--key",
      tls.tlsKey,
      "--ca",
      tls.tlsCa,
    ],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        OCG_REPLICATION_CONCURRENCY: "1",
        OCG_REGIONS: JSON.stringify(regionsStoringIn(copies, Object.keys(TARGETS))),
      },
    },
  );
  let out = "";
  child.stdout!.on("data", (c) => (out += c));
  const url = await new Promise<string>((ok, fail) => {
    const timer = setInterval(() => {
      const m = /ocg listening on (https:\/\/\S+)/.exec(out);
      if (m) {
        clearInterval(timer);
        ok(m[1]!);
      }
    }, 20);
    child.once("exit", (code) => {
      clearInterval(timer);
      fail(new Error(`ocg exited with ${code}: ${out}`));
    });
  });
  const creds = JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8"));
  const credential = new ClientSecretCredential(
    creds.tenantId,
    creds.clientId,
    creds.clientSecret,
    {
      authorityHost: url,
      disableInstanceDiscovery: true,
    },
  );
  const compute = new ComputeManagementClient(credential, creds.subscriptionId, {
    endpoint: url,
    retryOptions: { maxRetries: 0 },
    updateIntervalInMs: 200,
  } as never);
  const logs = () =>
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const resources = new ResourceManagementClient(credential, creds.subscriptionId, {
    endpoint: url,
    retryOptions: { maxRetries: 0 },
  });
  return { child, url, logs, compute, resources };
}

/** The non-zero 4 MiB pieces of a file: what an uploader sends. */
function* pieces(path: string, size: number) {
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(4 * MIB);
  const zeros = Buffer.alloc(buf.length);
  for (let at = 0; at < size; at += buf.length) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
    const piece = buf.subarray(0, n);
    // memcmp, not a byte loop: this scans 4 GiB.
    if (!piece.equals(zeros.subarray(0, n))) yield { at, piece };
  }
}

describe("replication of a real disk through a kill -9", { timeout: 600_000 }, () => {
  const dataDir = tempDir("crash");
  const copies = copiesDirBeside(dataDir);
  const locationDir = (location: string) =>
    location in TARGETS ? join(copies, location) : join(dataDir, "blobs", location);
  const chunkCount = (location: string) => {
    try {
      return readdirSync(join(locationDir(location), "chunks"), {
        recursive: true,
        withFileTypes: true,
      }).filter((e) => e.isFile()).length;
    } catch {
      return 0;
    }
  };
  const vhdPath = corpusFile("debian-v1.vhd");
  const vhdSize = 4 * 1024 * MIB + 512;
  const sums = readFileSync(join(root, ".corpus", "SHA256SUMS"), "utf8");
  const vhdSha256 = /^([0-9a-f]{64}) \*\.\/debian-v1\.vhd$/m.exec(sums)![1]!;
  let server: Server;
  let diskId: string;

  before(async () => {
    server = await startOcg(dataDir, copies);
    await server.resources.resourceGroups.createOrUpdate(RG, { location: HOME });
    const { compute } = server;
    await compute.galleries.beginCreateOrUpdateAndWait(RG, GALLERY, { location: HOME });
    // From api-version 2025-03-03 a definition defaults to V2 with Trusted Launch supported.
    await compute.galleryImages.beginCreateOrUpdateAndWait(RG, GALLERY, IMAGE, {
      location: HOME,
      osType: "Linux",
      osState: "Generalized",
      identifier: { publisher: "debian", offer: "debian-12", sku: "12-gen2" },
    });
    const disk = await compute.disks.beginCreateOrUpdateAndWait(RG, "v1", {
      location: HOME,
      creationData: { createOption: "Upload", uploadSizeBytes: vhdSize },
    });
    diskId = disk.id!;
    const access = await compute.disks.beginGrantAccessAndWait(RG, "v1", {
      access: "Write",
      durationInSeconds: 3600,
    });
    const blob = new PageBlobClient(access.accessSAS!, new AnonymousCredential());
    for (const { at, piece } of pieces(vhdPath, vhdSize)) {
      await blob.uploadPages(piece, at, piece.length);
    }
    await compute.disks.beginRevokeAccessAndWait(RG, "v1");
  });
  after(() => {
    server?.child.kill("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(copies, { recursive: true, force: true });
  });

  it("resumes after a kill -9 mid-replication and completes, verified", async () => {
    const distinct = chunkCount("eastus-1");
    assert.ok(distinct > 500, `the sealed disk's chunks are in eastus-1 (${distinct})`);
    await server.compute.galleryImageVersions.beginCreateOrUpdate(RG, GALLERY, IMAGE, "1.0.0", {
      location: HOME,
      publishingProfile: {
        targetRegions: [
          { name: "eastus", regionalReplicaCount: 2 },
          { name: "westus" },
          { name: "westeurope" },
        ],
      },
      storageProfile: { osDiskImage: { source: { id: diskId } } },
    });
    // Kill the server as soon as a copy is under way and before all three are done.
    let partial: string | undefined;
    for (let i = 0; i < 3000 && !partial; i++) {
      for (const location of Object.keys(TARGETS)) {
        const n = chunkCount(location);
        if (n > 0 && n < distinct) partial = location;
      }
      if (!partial) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(partial, "caught a replica half copied");
    server.child.kill("SIGKILL");
    await new Promise((r) => server.child.once("exit", r));
    const copiedBeforeKill = chunkCount(partial);

    server = await startOcg(dataDir, copies);
    let state = "";
    for (let i = 0; i < 600 && state !== "Succeeded"; i++) {
      const v = await server.compute.galleryImageVersions.get(RG, GALLERY, IMAGE, "1.0.0");
      state = v.provisioningState ?? "";
      assert.notEqual(state, "Failed");
      if (state !== "Succeeded") await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(state, "Succeeded");
    const region = TARGETS[partial as keyof typeof TARGETS];
    const resumed = server.logs().find((l) => l.msg === "replica completed" && l.region === region);
    assert.ok(resumed, `the restarted server completed the ${region} replica`);
    assert.ok(
      (resumed.skipped as number) >= copiedBeforeKill,
      `chunks copied before the kill were kept, not copied again: ${JSON.stringify(resumed)}`,
    );
    for (const location of Object.keys(TARGETS)) {
      assert.equal(chunkCount(location), distinct, location);
    }
    let body = "";
    const v = await server.compute.galleryImageVersions.get(RG, GALLERY, IMAGE, "1.0.0", {
      expand: "ReplicationStatus,ValidationProfile",
      onResponse: (raw) => (body = raw.bodyAsText ?? ""),
    });
    assert.equal(v.replicationStatus?.aggregatedState, "Completed");
    const validation = v.validationsProfile?.executedValidations?.[0];
    assert.equal(validation?.type, "TrustedLaunch");
    assert.equal(validation?.status, "Succeeded");
    // The content digest (our extra property) is the SHA-256 of the VHD as uploaded.
    assert.equal(JSON.parse(body).properties.storageProfile.osDiskImage.contentSha256, vhdSha256);
  });

  it("serves the original bytes in every region, and an error for a damaged chunk", async () => {
    const { compute } = server;
    for (const location of ["westus", "westeurope"]) {
      const name = `deployed-${location}`;
      await compute.disks.beginCreateOrUpdateAndWait(RG, name, {
        location,
        creationData: {
          createOption: "FromImage",
          galleryImageReference: {
            id: `${diskId.split("/providers/")[0]}/providers/Microsoft.Compute/galleries/${GALLERY}/images/${IMAGE}/versions/1.0.0`,
          },
        },
      });
      const access = await compute.disks.beginGrantAccessAndWait(RG, name, {
        access: "Read",
        durationInSeconds: 3600,
      });
      const blob = new PageBlobClient(access.accessSAS!, new AnonymousCredential(), {
        retryOptions: { maxTries: 1 },
      });
      let compared = 0;
      for (const { at, piece } of pieces(vhdPath, vhdSize)) {
        const got = await blob.downloadToBuffer(at, piece.length);
        assert.ok(got.equals(piece), `${location}: bytes at ${at}`);
        compared += piece.length;
      }
      assert.ok(compared > 100 * MIB);

      if (location === "westus") {
        // Flip one byte of one stored chunk: reading it must fail, never return the bad bytes.
        const dir = join(locationDir("westus"), "chunks");
        const file = readdirSync(dir, { recursive: true, withFileTypes: true }).find((e) =>
          e.isFile(),
        )!;
        const path = join(file.parentPath, file.name);
        const bytes = readFileSync(path);
        bytes[100]! ^= 0xff;
        writeFileSync(path, bytes);
        let failures = 0;
        for (const { at, piece } of pieces(vhdPath, vhdSize)) {
          try {
            const got = await blob.downloadToBuffer(at, piece.length);
            assert.ok(got.equals(piece), `never wrong bytes (at ${at})`);
          } catch (err) {
            if ((err as { code?: string }).code === "ERR_ASSERTION") throw err;
            failures++;
          }
        }
        assert.ok(failures >= 1, "the damaged chunk's range failed");
        bytes[100]! ^= 0xff;
        writeFileSync(path, bytes);
      }
      await compute.disks.beginRevokeAccessAndWait(RG, name);
    }
  });
});
