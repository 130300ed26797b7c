/**
 * GUID Partition Table (UEFI spec, chapter 5) on a disk of 512-byte logical sectors, the only
 * sector size Azure disks expose. Reads the protective MBR (LBA 0: signature 0x55AA and a
 * partition of type 0xEE), the GPT header at LBA 1 (or, when that one is damaged, the backup at
 * the last LBA) with its CRC32, and the partition entry array with its CRC32.
 *
 * Bounded on hostile input: the entry array is read only if it is at most 1 MiB and 16384
 * entries, and every LBA is checked against the disk before it is read. Errors are `GptError`s.
 */
import * as zlib from "node:zlib";
import { FormatError, ReadRangeError, type RandomAccess } from "./random-access.js";

export const SECTOR_SIZE = 512;
export const EFI_SYSTEM_PARTITION_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const SIGNATURE = "EFI PART";
const MAX_ENTRIES = 16384;
const MAX_ENTRY_ARRAY_BYTES = 1024 * 1024;

export type GptErrorReason =
  | "no-protective-mbr"
  | "no-gpt-header"
  | "bad-header"
  | "bad-header-crc"
  | "bad-entries-crc"
  | "too-many-entries"
  | "bad-partition";

export class GptError extends FormatError<GptErrorReason> {
  constructor(reason: GptErrorReason, message: string, options?: { cause?: unknown }) {
    super("gpt", reason, message, options);
  }
}

export interface GptHeader {
  revision: number;
  headerSize: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  partitionEntryLba: number;
  numberOfEntries: number;
  entrySize: number;
  /** CRC32 of the partition entry array, as stored. */
  entriesCrc32: number;
}

export interface GptPartition {
  /** 1-based slot in the entry array, as `sgdisk` and Linux number partitions. */
  number: number;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  attributes: bigint;
  name: string;
  /** Byte offset and length on the disk. */
  offset: number;
  length: number;
}

export interface Gpt {
  /** "primary" unless the header at LBA 1 was damaged and the backup was used. */
  source: "primary" | "backup";
  header: GptHeader;
  partitions: GptPartition[];
  /** Why the primary header was not used, when `source` is "backup". */
  primaryError?: GptError;
}

type Crc32 = (data: Uint8Array, value?: number) => number;
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
/** The table-driven CRC-32, used where node:zlib has no crc32 (Node < 20.15). */
export function tableCrc32(data: Uint8Array, value = 0): number {
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
/** CRC-32 (IEEE 802.3, as GPT uses): node:zlib's where Node has it (20.15+), else a table. */
export const crc32: Crc32 =
  typeof (zlib as { crc32?: unknown }).crc32 === "function"
    ? (data, value) => (zlib as unknown as { crc32: Crc32 }).crc32(data, value)
    : tableCrc32;

/** A mixed-endian GUID as stored on disk, in the upper-case text form. */
export function formatGuid(b: Uint8Array, at = 0): string {
  const buf = Buffer.from(b.buffer, b.byteOffset + at, 16);
  const h = (n: number, w: number) => n.toString(16).padStart(w, "0");
  return [
    h(buf.readUInt32LE(0), 8),
    h(buf.readUInt16LE(4), 4),
    h(buf.readUInt16LE(6), 4),
    buf.toString("hex", 8, 10),
    buf.toString("hex", 10, 16),
  ]
    .join("-")
    .toUpperCase();
}

/** The on-disk (mixed-endian) 16 bytes of a GUID in text form. */
export function guidBytes(guid: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(guid);
  if (!m) throw new GptError("bad-partition", `'${guid}' is not a GUID`);
  const out = Buffer.alloc(16);
  out.writeUInt32LE(parseInt(m[1]!, 16), 0);
  out.writeUInt16LE(parseInt(m[2]!, 16), 4);
  out.writeUInt16LE(parseInt(m[3]!, 16), 6);
  Buffer.from(m[4]! + m[5]!, "hex").copy(out, 8);
  return out;
}

/** True when LBA 0 is a protective MBR: boot signature and a partition of type 0xEE. */
export function hasProtectiveMbr(lba0: Uint8Array): boolean {
  if (lba0.length < SECTOR_SIZE || lba0[510] !== 0x55 || lba0[511] !== 0xaa) return false;
  for (let i = 0; i < 4; i++) if (lba0[446 + i * 16 + 4] === 0xee) return true;
  return false;
}

function u64(buf: Buffer, at: number, field: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GptError("bad-header", `GPT ${field} ${v} is out of range`);
  }
  return Number(v);
}

/** Parses and checks one header sector read at `lba`. */
export function parseGptHeader(sector: Uint8Array, lba: number, diskSectors: number): GptHeader {
  const buf = Buffer.from(sector.buffer, sector.byteOffset, sector.byteLength);
  if (buf.length < SECTOR_SIZE || buf.toString("latin1", 0, 8) !== SIGNATURE) {
    throw new GptError("no-gpt-header", `no GPT header signature '${SIGNATURE}' at LBA ${lba}`);
  }
  const headerSize = buf.readUInt32LE(12);
  if (headerSize < 92 || headerSize > SECTOR_SIZE) {
    throw new GptError("bad-header", `GPT header size ${headerSize} is not within 92..512`);
  }
  const stored = buf.readUInt32LE(16);
  const copy = Buffer.from(buf.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  const computed = crc32(copy);
  if (stored !== computed) {
    throw new GptError(
      "bad-header-crc",
      `GPT header at LBA ${lba}: CRC32 is ${stored.toString(16)}, the header sums to ${computed.toString(16)}`,
    );
  }
  const header: GptHeader = {
    revision: buf.readUInt32LE(8),
    headerSize,
    myLba: u64(buf, 24, "MyLBA"),
    alternateLba: u64(buf, 32, "AlternateLBA"),
    firstUsableLba: u64(buf, 40, "FirstUsableLBA"),
    lastUsableLba: u64(buf, 48, "LastUsableLBA"),
    diskGuid: formatGuid(buf, 56),
    partitionEntryLba: u64(buf, 72, "PartitionEntryLBA"),
    numberOfEntries: buf.readUInt32LE(80),
    entrySize: buf.readUInt32LE(84),
    entriesCrc32: buf.readUInt32LE(88),
  };
  if (header.myLba !== lba) {
    throw new GptError("bad-header", `GPT header at LBA ${lba} says it is at LBA ${header.myLba}`);
  }
  if (
    header.firstUsableLba > header.lastUsableLba ||
    header.lastUsableLba >= diskSectors ||
    header.partitionEntryLba < 2 ||
    header.partitionEntryLba >= diskSectors
  ) {
    throw new GptError(
      "bad-header",
      `GPT header at LBA ${lba}: usable LBAs ${header.firstUsableLba}..${header.lastUsableLba} or entry array at LBA ${header.partitionEntryLba} do not fit a disk of ${diskSectors} sectors`,
    );
  }
  if (header.entrySize < 128 || header.entrySize % 8 !== 0 || header.entrySize > 4096) {
    throw new GptError("bad-header", `GPT partition entry size ${header.entrySize} is invalid`);
  }
  if (
    header.numberOfEntries > MAX_ENTRIES ||
    header.numberOfEntries * header.entrySize > MAX_ENTRY_ARRAY_BYTES
  ) {
    throw new GptError(
      "too-many-entries",
      `GPT declares ${header.numberOfEntries} entries of ${header.entrySize} bytes (at most ${MAX_ENTRIES} and 1 MiB are read)`,
    );
  }
  return header;
}

function parseEntries(array: Buffer, header: GptHeader, diskSectors: number): GptPartition[] {
  const partitions: GptPartition[] = [];
  for (let i = 0; i < header.numberOfEntries; i++) {
    const e = array.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    const typeGuid = formatGuid(e, 0);
    if (typeGuid === "00000000-0000-0000-0000-000000000000") continue;
    const first = e.readBigUInt64LE(32);
    const last = e.readBigUInt64LE(40);
    if (first > last || last >= BigInt(diskSectors)) {
      throw new GptError(
        "bad-partition",
        `GPT partition ${i + 1}: LBAs ${first}..${last} do not fit a disk of ${diskSectors} sectors`,
      );
    }
    const nameRaw = e.toString("utf16le", 56, 128);
    const nul = nameRaw.indexOf("\0");
    partitions.push({
      number: i + 1,
      typeGuid,
      uniqueGuid: formatGuid(e, 16),
      firstLba: Number(first),
      lastLba: Number(last),
      attributes: e.readBigUInt64LE(48),
      name: nul >= 0 ? nameRaw.slice(0, nul) : nameRaw,
      offset: Number(first) * SECTOR_SIZE,
      length: (Number(last) - Number(first) + 1) * SECTOR_SIZE,
    });
  }
  return partitions;
}

async function readEntries(
  disk: RandomAccess,
  header: GptHeader,
  lba: number,
  diskSectors: number,
  options?: { signal?: AbortSignal },
): Promise<GptPartition[]> {
  const bytes = header.numberOfEntries * header.entrySize;
  const arrayEnd = header.partitionEntryLba * SECTOR_SIZE + bytes;
  if (arrayEnd > disk.size) {
    throw new GptError(
      "bad-header",
      `GPT header at LBA ${lba}: the entry array runs past the end of the disk`,
    );
  }
  const array = await disk.read(header.partitionEntryLba * SECTOR_SIZE, bytes, options);
  const stored = header.entriesCrc32;
  const computed = crc32(array);
  if (stored !== computed) {
    throw new GptError(
      "bad-entries-crc",
      `GPT partition entry array (header at LBA ${lba}): CRC32 is ${stored.toString(16)}, the entries sum to ${computed.toString(16)}`,
    );
  }
  return parseEntries(array, header, diskSectors);
}

async function readGptAt(
  disk: RandomAccess,
  lba: number,
  diskSectors: number,
  options?: { signal?: AbortSignal },
): Promise<{ header: GptHeader; partitions: GptPartition[] }> {
  const sector = await disk.read(lba * SECTOR_SIZE, SECTOR_SIZE, options);
  const header = parseGptHeader(sector, lba, diskSectors);
  return { header, partitions: await readEntries(disk, header, lba, diskSectors, options) };
}

/**
 * Reads the GPT of `disk`. Fails with "no-protective-mbr" when LBA 0 is not a protective MBR
 * (an MBR disk, or no partition table at all), with "no-gpt-header" when neither LBA 1 nor the
 * last LBA holds a header, else with the primary header's error when the backup is no better.
 */
export async function readGpt(
  disk: RandomAccess,
  options?: { signal?: AbortSignal },
): Promise<Gpt> {
  const diskSectors = Math.floor(disk.size / SECTOR_SIZE);
  if (diskSectors < 3) {
    throw new GptError("no-protective-mbr", `a disk of ${disk.size} bytes is too small for a GPT`);
  }
  const lba0 = await disk.read(0, SECTOR_SIZE, options);
  if (!hasProtectiveMbr(lba0)) {
    const mbr = lba0[510] === 0x55 && lba0[511] === 0xaa;
    throw new GptError(
      "no-protective-mbr",
      mbr
        ? "LBA 0 is an MBR partition table without a protective (type 0xEE) partition"
        : "LBA 0 has no MBR boot signature 0x55AA",
    );
  }
  try {
    return { source: "primary", ...(await readGptAt(disk, 1, diskSectors, options)) };
  } catch (primary) {
    if (!(primary instanceof GptError || primary instanceof ReadRangeError)) throw primary;
    const primaryError =
      primary instanceof GptError
        ? primary
        : new GptError("bad-header", primary.message, { cause: primary });
    try {
      const backup = await readGptAt(disk, diskSectors - 1, diskSectors, options);
      return { source: "backup", ...backup, primaryError };
    } catch (err) {
      if (!(err instanceof GptError || err instanceof ReadRangeError)) throw err;
      throw primaryError;
    }
  }
}

/** The first partition whose type is the EFI System Partition's, or undefined. */
export function findEfiSystemPartition(gpt: Pick<Gpt, "partitions">): GptPartition | undefined {
  return gpt.partitions.find((p) => p.typeGuid === EFI_SYSTEM_PARTITION_GUID);
}
