/**
 * Builders of small disk images for the format tests: FAT volumes made by the real tools
 * (mkfs.vfat, mtools; `npm run setup:test` installs them), GPT disks and signed-looking PE32+
 * EFI applications assembled here byte by byte, byte overlays on any `RandomAccess`, and the
 * location of the real disk corpus (`.corpus/`, built by scripts/corpus.sh).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { authenticodeDigest, parsePe } from "../../src/formats/pe.js";
import { crc32, guidBytes } from "../../src/formats/gpt.js";
import { checkRange, type RandomAccess } from "../../src/formats/random-access.js";
import { tempDir } from "../helpers/server.js";

/** Runs a tool; a missing tool fails the test with the command that installs it. */
export function tool(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    assert.fail(`${cmd} is not installed: run \`npm run setup:test\``);
  }
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** `source` with `patches` applied over it, cut or zero-extended to `size`. */
export function overlay(
  source: RandomAccess,
  patches: { offset: number; bytes: Uint8Array }[],
  size = source.size,
): RandomAccess {
  return {
    size,
    async read(offset, length, options) {
      checkRange(size, offset, length);
      const out = Buffer.alloc(length);
      const fromSource = Math.max(0, Math.min(length, source.size - offset));
      if (fromSource > 0) (await source.read(offset, fromSource, options)).copy(out, 0);
      for (const p of patches) {
        const from = Math.max(p.offset, offset);
        const to = Math.min(p.offset + p.bytes.length, offset + length);
        for (let i = from; i < to; i++) out[i - offset] = p.bytes[i - p.offset]!;
      }
      return out;
    },
  };
}

/** A copy of `bytes` with byte `at` XOR-ed with `mask`, as a patch. */
export function flip(at: number, original: number, mask = 0xff) {
  return { offset: at, bytes: Uint8Array.of(original ^ mask) };
}

/**
 * A FAT volume of `sizeKiB` made by mkfs.vfat, with `files` (paths with `/`, relative to the
 * root; their directories are made) copied in by mtools, then `remove` deleted and `thenFiles`
 * copied (to fragment a file). Returns the image's bytes.
 */
export function fatImage(options: {
  fatBits: 12 | 16 | 32;
  sizeKiB: number;
  sectorsPerCluster?: number;
  files?: Record<string, Uint8Array>;
  remove?: string[];
  thenFiles?: Record<string, Uint8Array>;
}): Buffer {
  const dir = tempDir("fat");
  const image = join(dir, "fat.img");
  writeFileSync(image, Buffer.alloc(0));
  tool("truncate", ["-s", `${options.sizeKiB}K`, image]);
  const mkfs = ["-F", String(options.fatBits), "--invariant", "-n", "TESTVOL"];
  if (options.sectorsPerCluster) mkfs.push("-s", String(options.sectorsPerCluster));
  tool("mkfs.vfat", [...mkfs, image]);
  let round = 0;
  const copy = (files: Record<string, Uint8Array>) => {
    const tree = join(dir, `tree${round++}`);
    mkdirSync(tree);
    for (const [path, bytes] of Object.entries(files)) {
      mkdirSync(dirname(join(tree, path)), { recursive: true });
      writeFileSync(join(tree, path), bytes);
    }
    const top = readdirSync(tree).map((name) => join(tree, name));
    if (top.length) tool("mcopy", ["-s", "-o", "-i", image, ...top, "::/"]);
  };
  copy(options.files ?? {});
  for (const path of options.remove ?? []) tool("mdel", ["-i", image, `::/${path}`]);
  copy(options.thenFiles ?? {});
  return readFileSync(image);
}

export interface GptPartitionSpec {
  typeGuid: string;
  firstLba: number;
  lastLba: number;
  name?: string;
  content?: Uint8Array;
}

/**
 * A GPT disk of `sectors` 512-byte sectors: protective MBR, primary header at LBA 1 with 128
 * entries at LBA 2, backup entries and header at the end, both CRCs right. `mutateHeader` may
 * change the primary header before its CRC is computed.
 */
export function gptDisk(
  sectors: number,
  partitions: GptPartitionSpec[],
  options: { entries?: number; mutateHeader?: (header: Buffer) => void; mbrType?: number } = {},
): Buffer {
  const disk = Buffer.alloc(sectors * 512);
  const entries = options.entries ?? 128;
  const entryBytes = entries * 128;
  const entrySectors = Math.ceil(entryBytes / 512);
  // Protective MBR.
  const mbr = disk.subarray(0, 512);
  mbr[446 + 4] = options.mbrType ?? 0xee;
  mbr.writeUInt32LE(1, 446 + 8);
  mbr.writeUInt32LE(Math.min(sectors - 1, 0xffffffff), 446 + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  const array = Buffer.alloc(entrySectors * 512);
  partitions.forEach((p, i) => {
    const e = array.subarray(i * 128, (i + 1) * 128);
    guidBytes(p.typeGuid).copy(e, 0);
    guidBytes(`${String(i + 1).padStart(8, "0")}-0000-4000-8000-000000000000`).copy(e, 16);
    e.writeBigUInt64LE(BigInt(p.firstLba), 32);
    e.writeBigUInt64LE(BigInt(p.lastLba), 40);
    e.write(p.name ?? "", 56, "utf16le");
    if (p.content) Buffer.from(p.content).copy(disk, p.firstLba * 512);
  });
  const entriesCrc = crc32(array.subarray(0, entryBytes));
  const header = (myLba: number, alternate: number, entriesLba: number) => {
    const h = Buffer.alloc(512);
    h.write("EFI PART", 0, "latin1");
    h.writeUInt32LE(0x00010000, 8);
    h.writeUInt32LE(92, 12);
    h.writeBigUInt64LE(BigInt(myLba), 24);
    h.writeBigUInt64LE(BigInt(alternate), 32);
    h.writeBigUInt64LE(BigInt(2 + entrySectors), 40);
    h.writeBigUInt64LE(BigInt(sectors - 2 - entrySectors), 48);
    guidBytes("12345678-1234-4234-8234-123456789ABC").copy(h, 56);
    h.writeBigUInt64LE(BigInt(entriesLba), 72);
    h.writeUInt32LE(entries, 80);
    h.writeUInt32LE(128, 84);
    h.writeUInt32LE(entriesCrc, 88);
    return h;
  };
  const primary = header(1, sectors - 1, 2);
  options.mutateHeader?.(primary);
  primary.writeUInt32LE(0, 16);
  primary.writeUInt32LE(crc32(primary.subarray(0, primary.readUInt32LE(12) || 92)), 16);
  primary.copy(disk, 512);
  array.copy(disk, 2 * 512);
  const backupEntriesLba = sectors - 1 - entrySectors;
  const backup = header(sectors - 1, 1, backupEntriesLba);
  backup.writeUInt32LE(crc32(backup.subarray(0, 92)), 16);
  array.copy(disk, backupEntriesLba * 512);
  backup.copy(disk, (sectors - 1) * 512);
  return disk;
}

// --- DER, for Authenticode-shaped signatures ---
function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const content = Buffer.concat(parts);
  const n = content.length;
  const len =
    n < 0x80
      ? Buffer.of(n)
      : n < 0x100
        ? Buffer.of(0x81, n)
        : n < 0x10000
          ? Buffer.of(0x82, n >> 8, n & 0xff)
          : Buffer.of(0x83, n >> 16, (n >> 8) & 0xff, n & 0xff);
  return Buffer.concat([Buffer.of(tag), len, content]);
}
const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, "hex"));
export const OIDS = {
  signedData: "2a864886f70d010702",
  spcIndirectData: "2b060104018237020104",
  spcPeImageData: "2b06010401823702010f",
  sha256: "608648016503040201",
  md5: "2a864886f70d0205",
};

/** An Authenticode-shaped PKCS#7 ContentInfo carrying `digest` (no real signer, no certs). */
export function authenticodeBlob(digest: Uint8Array, digestOid = OIDS.sha256): Buffer {
  const algorithm = seq(oid(digestOid), Buffer.of(0x05, 0x00));
  const indirect = seq(seq(oid(OIDS.spcPeImageData), seq()), seq(algorithm, tlv(0x04, digest)));
  const signerInfo = seq(
    tlv(0x02, Buffer.of(1)),
    seq(),
    algorithm,
    seq(),
    tlv(0x04, Buffer.alloc(8)),
  );
  const signedData = seq(
    tlv(0x02, Buffer.of(1)),
    tlv(0x31, algorithm),
    seq(oid(OIDS.spcIndirectData), tlv(0xa0, indirect)),
    tlv(0x31, signerInfo),
  );
  return seq(oid(OIDS.signedData), tlv(0xa0, signedData));
}

export interface PeOptions {
  machine?: number;
  magic?: 0x20b | 0x10b;
  subsystem?: number;
  /** Leave out the certificate table; or give the WIN_CERTIFICATE header fields. */
  unsigned?: boolean;
  revision?: number;
  certificateType?: number;
  /** Replace the signed digest (a tampered signature). */
  digest?: Uint8Array;
  blob?: Uint8Array;
}

/**
 * A small PE image (headers, one `.text` section of 512 bytes) signed Authenticode-style: its
 * certificate table holds one WIN_CERTIFICATE whose digest is the image's real Authenticode
 * digest (unless `digest` says otherwise).
 */
export function peImage(options: PeOptions = {}): Buffer {
  const magic = options.magic ?? 0x20b;
  const plus = magic === 0x20b;
  const optSize = plus ? 240 : 224;
  const peOffset = 0x80;
  const body = Buffer.alloc(0x400);
  body.write("MZ", 0, "latin1");
  body.writeUInt32LE(peOffset, 0x3c);
  body.writeUInt32LE(0x00004550, peOffset);
  const coff = peOffset + 4;
  body.writeUInt16LE(options.machine ?? 0x8664, coff);
  body.writeUInt16LE(1, coff + 2);
  body.writeUInt16LE(optSize, coff + 16);
  body.writeUInt16LE(0x0022, coff + 18);
  const opt = coff + 20;
  body.writeUInt16LE(magic, opt);
  body.writeUInt32LE(0x1000, opt + 16); // AddressOfEntryPoint
  body.writeUInt32LE(0x1000, opt + 32); // SectionAlignment
  body.writeUInt32LE(0x200, opt + 36); // FileAlignment
  body.writeUInt32LE(0x2000, opt + 56); // SizeOfImage
  body.writeUInt32LE(0x200, opt + 60); // SizeOfHeaders
  body.writeUInt16LE(options.subsystem ?? 10, opt + 68);
  body.writeUInt32LE(16, opt + (plus ? 108 : 92)); // NumberOfRvaAndSizes
  const section = opt + optSize;
  body.write(".text", section, "latin1");
  body.writeUInt32LE(0x200, section + 8);
  body.writeUInt32LE(0x1000, section + 12);
  body.writeUInt32LE(0x200, section + 16);
  body.writeUInt32LE(0x200, section + 20);
  for (let i = 0x200; i < 0x400; i++) body[i] = (i * 7) & 0xff;
  if (options.unsigned) return body;
  const pe = parsePe(body);
  const digest = options.digest ?? authenticodeDigest(body, pe, "sha256");
  const blob = options.blob ?? authenticodeBlob(digest);
  const length = 8 + blob.length;
  const cert = Buffer.alloc(Math.ceil(length / 8) * 8);
  cert.writeUInt32LE(length, 0);
  cert.writeUInt16LE(options.revision ?? 0x0200, 4);
  cert.writeUInt16LE(options.certificateType ?? 0x0002, 6);
  Buffer.from(blob).copy(cert, 8);
  const dir = pe.certificateDirectoryOffset!;
  body.writeUInt32LE(body.length, dir);
  body.writeUInt32LE(cert.length, dir + 4);
  return Buffer.concat([body, cert]);
}

/** Where scripts/corpus.sh builds the corpus (same defaults as the script). */
export const corpusDir = resolve(
  process.env.OCG_CORPUS_DIR ?? join(import.meta.dirname, "..", "..", ".corpus"),
);

/** The path of a corpus file; fails the test, saying how to build it, when it is missing. */
export function corpusFile(name: string): string {
  const path = join(corpusDir, name);
  if (!existsSync(join(corpusDir, "STAMP")) || !existsSync(path)) {
    assert.fail(
      `the disk corpus is missing (${path}): run \`npm run setup:test\`, which builds it into .corpus/ (a few minutes, once)`,
    );
  }
  return path;
}

/** The disk size scripts/corpus.sh built, from its STAMP. */
export function corpusDiskBytes(): number {
  const stamp = readFileSync(join(corpusDir, "STAMP"), "utf8");
  const mib = /^disk_mib=(\d+)$/m.exec(stamp);
  assert.ok(mib, "corpus STAMP without disk_mib");
  return Number(mib[1]) * 1024 * 1024;
}
