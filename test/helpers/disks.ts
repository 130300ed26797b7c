/** Disks for gallery tests: a small fixed VHD, uploaded through a real access URL and sealed. */
import { randomBytes } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { createVhdFooter, MIB } from "../../src/formats/vhd.js";
import type { TestServer } from "./server.js";

/** A fixed VHD of `mib` MiB: zeros with a few random regions, and the footer. */
export function makeVhd(mib: number): Buffer {
  const size = mib * MIB;
  const buf = Buffer.alloc(size + 512);
  randomBytes(3 * MIB).copy(buf, 2 * MIB);
  randomBytes(4096).copy(buf, size - 4096);
  createVhdFooter(size).copy(buf, size);
  return buf;
}

/** Creates an Upload disk, writes `vhd` through its Write URL (zero pages skipped) and seals it. */
export async function uploadDisk(
  t: TestServer,
  rg: string,
  name: string,
  location: string,
  vhd: Buffer,
) {
  const disk = await t.compute.disks.beginCreateOrUpdateAndWait(rg, name, {
    location,
    creationData: { createOption: "Upload", uploadSizeBytes: vhd.length },
  });
  const access = await t.compute.disks.beginGrantAccessAndWait(rg, name, {
    access: "Write",
    durationInSeconds: 3600,
  });
  const blob = new PageBlobClient(access.accessSAS!, new AnonymousCredential());
  for (let at = 0; at < vhd.length; at += 4 * MIB) {
    const piece = vhd.subarray(at, Math.min(vhd.length, at + 4 * MIB));
    if (piece.some((b) => b !== 0)) await blob.uploadPages(piece, at, piece.length);
  }
  await t.compute.disks.beginRevokeAccessAndWait(rg, name);
  return disk.id!;
}

/** Downloads a disk's whole blob through a Read grant, then revokes the grant. */
export async function downloadDisk(t: TestServer, rg: string, name: string): Promise<Buffer> {
  const access = await t.compute.disks.beginGrantAccessAndWait(rg, name, {
    access: "Read",
    durationInSeconds: 3600,
  });
  const blob = new PageBlobClient(access.accessSAS!, new AnonymousCredential());
  const data = await blob.downloadToBuffer();
  await t.compute.disks.beginRevokeAccessAndWait(rg, name);
  return data;
}

/** Chunk files stored at a storage location of the test server. */
export function chunkCount(dataDir: string, location: string): number {
  try {
    return readdirSync(join(dataDir, "blobs", location, "chunks"), {
      recursive: true,
      withFileTypes: true,
    }).filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

/** A resource group, a gallery and a generalized Linux V1 image definition in it; the definition. */
export async function createDefinition(
  t: TestServer,
  rg: string,
  gallery: string,
  image: string,
  location: string,
) {
  await t.resources.resourceGroups.createOrUpdate(rg, { location });
  await t.compute.galleries.beginCreateOrUpdateAndWait(rg, gallery, { location });
  return t.compute.galleryImages.beginCreateOrUpdateAndWait(rg, gallery, image, {
    location,
    osType: "Linux",
    osState: "Generalized",
    hyperVGeneration: "V1",
    identifier: { publisher: "p", offer: "o", sku: "s" },
  });
}
