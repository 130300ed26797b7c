/**
 * VHD footers and Azure's upload format: a fixed VHD is the raw disk followed by one 512-byte
 * footer (big-endian fields, cookie "conectix", checksum = ones' complement of the byte sum of
 * the footer without its checksum field). Azure takes only fixed VHDs whose virtual size is a
 * whole number of MiB, so an upload is `n MiB + 512` bytes, between 20 MiB and 32,767 GiB of disk.
 *
 * Every rejection is a `VhdError` whose `reason` says what is wrong and whose fields carry the
 * numbers; `api/` maps reasons to Azure's errors (see `VhdErrorReason`). Pure: no I/O besides
 * reads through the given `RandomAccess`.
 */
import { randomBytes } from "node:crypto";
import { FormatError, sliceRandomAccess, type RandomAccess } from "./random-access.js";

export const VHD_FOOTER_SIZE = 512;
export const MIB = 1024 * 1024;
/** Azure's bounds on an uploaded disk's virtual size (the upload is 512 bytes more). */
export const AZURE_MIN_DISK_BYTES = 20 * MIB;
export const AZURE_MAX_DISK_BYTES = 32767 * 1024 * MIB;

const COOKIE = "conectix";
const FORMAT_VERSION = 0x00010000;
const FIXED_DATA_OFFSET = 0xffffffffffffffffn;
/** Seconds from the Unix epoch to the VHD epoch, 2000-01-01T00:00:00Z. */
const VHD_EPOCH_SECONDS = 946684800;

export const VhdDiskType = { none: 0, fixed: 2, dynamic: 3, differencing: 4 } as const;

/**
 * Why a VHD or an upload size was refused. What Azure answers for each (code, message):
 * - "upload-size-not-mib-multiple": BadRequest, "The upload size in bytes {totalBytes} - 512 bytes
 *   for the VHD footer ({totalBytes - 512} in this case) must be a multiple of MiB."
 * - "upload-size-too-small" / "upload-size-too-large": BadRequest (the size must be between
 *   20972032 and 35183298347520 bytes).
 * - "no-footer", "misaligned", "too-short": InvalidVhd, "The specified cookie value in VHD footer
 *   indicates that disk '{name}' with blob {url} is not a supported VHD. Disk is expected to have
 *   cookie value 'conectix'."
 * - "bad-checksum", "unsupported-version", "not-fixed", "size-mismatch",
 *   "virtual-size-not-mib-multiple", "bad-size": InvalidVhd, naming the field.
 */
export type VhdErrorReason =
  | "upload-size-not-mib-multiple"
  | "upload-size-too-small"
  | "upload-size-too-large"
  | "too-short"
  | "no-footer"
  | "misaligned"
  | "bad-checksum"
  | "unsupported-version"
  | "not-fixed"
  | "size-mismatch"
  | "virtual-size-not-mib-multiple"
  | "bad-size";

export class VhdError extends FormatError<VhdErrorReason> {
  constructor(
    reason: VhdErrorReason,
    message: string,
    /** The numbers behind the reason, e.g. `{ totalBytes }` or `{ diskType }`. */
    readonly details: Readonly<Record<string, number | string>> = {},
  ) {
    super("vhd", reason, message);
  }
}

export interface VhdGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

export interface VhdFooter {
  features: number;
  formatVersion: number;
  /** Offset of the dynamic disk header; all ones for a fixed disk (kept as bigint). */
  dataOffset: bigint;
  /** Creation time, seconds since 2000-01-01T00:00:00Z. */
  timestamp: number;
  creatorApplication: string;
  creatorVersion: number;
  creatorHostOs: number;
  originalSize: number;
  /** The virtual size of the disk in bytes. */
  currentSize: number;
  geometry: VhdGeometry;
  diskType: number;
  checksum: number;
  /** 16 bytes, lower-case hex. */
  uniqueId: string;
  savedState: number;
}

/** Ones' complement of the byte sum of a 512-byte footer, its checksum field (64..67) left out. */
export function vhdChecksum(footer: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_SIZE; i++) if (i < 64 || i >= 68) sum += footer[i] ?? 0;
  return ~sum >>> 0;
}

function readSize(buf: Buffer, at: number, field: string): number {
  const value = buf.readBigUInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VhdError("bad-size", `VHD footer ${field} ${value} is not a plausible size`, {
      field,
    });
  }
  return Number(value);
}

/**
 * Parses and checks one 512-byte footer: cookie, checksum, format version, sizes. Does not
 * require a fixed disk (see `openFixedVhd`), so that a dynamic disk is reported as such.
 */
export function parseVhdFooter(bytes: Uint8Array): VhdFooter {
  if (bytes.length !== VHD_FOOTER_SIZE) {
    throw new VhdError("too-short", `a VHD footer is 512 bytes, got ${bytes.length}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cookie = buf.toString("latin1", 0, 8);
  if (cookie !== COOKIE) {
    throw new VhdError("no-footer", `VHD footer cookie is not '${COOKIE}'`, { cookie });
  }
  const checksum = buf.readUInt32BE(64);
  const expected = vhdChecksum(buf);
  if (checksum !== expected) {
    throw new VhdError(
      "bad-checksum",
      `VHD footer checksum is 0x${hex32(checksum)}, the footer sums to 0x${hex32(expected)}`,
      { checksum, expected },
    );
  }
  const formatVersion = buf.readUInt32BE(12);
  if (formatVersion !== FORMAT_VERSION) {
    throw new VhdError(
      "unsupported-version",
      `VHD file format version 0x${hex32(formatVersion)} is not 0x00010000`,
      { formatVersion },
    );
  }
  return {
    features: buf.readUInt32BE(8),
    formatVersion,
    dataOffset: buf.readBigUInt64BE(16),
    timestamp: buf.readUInt32BE(24),
    creatorApplication: buf.toString("latin1", 28, 32),
    creatorVersion: buf.readUInt32BE(32),
    creatorHostOs: buf.readUInt32BE(36),
    originalSize: readSize(buf, 40, "original size"),
    currentSize: readSize(buf, 48, "current size"),
    geometry: {
      cylinders: buf.readUInt16BE(56),
      heads: buf.readUInt8(58),
      sectorsPerTrack: buf.readUInt8(59),
    },
    diskType: buf.readUInt32BE(60),
    checksum,
    uniqueId: buf.toString("hex", 68, 84),
    savedState: buf.readUInt8(84),
  };
}

/** CHS geometry for a virtual size, by the algorithm of the VHD specification (appendix). */
export function vhdGeometry(sizeBytes: number): VhdGeometry {
  let totalSectors = Math.floor(sizeBytes / 512);
  if (totalSectors > 65535 * 16 * 255) totalSectors = 65535 * 16 * 255;
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024));
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

/**
 * A fixed-VHD footer for a disk of `sizeBytes` (what ocg appends when it exports a disk).
 * `uniqueId` (16 bytes) and `createdAt` default to random bytes and now.
 */
export function createVhdFooter(
  sizeBytes: number,
  options: { uniqueId?: Uint8Array; createdAt?: Date } = {},
): Buffer {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new VhdError("bad-size", `cannot make a VHD footer for ${sizeBytes} bytes`);
  }
  const uniqueId = options.uniqueId ?? randomBytes(16);
  if (uniqueId.length !== 16) throw new VhdError("bad-size", "a VHD unique id is 16 bytes");
  const createdAt = options.createdAt ?? new Date();
  const buf = Buffer.alloc(VHD_FOOTER_SIZE);
  buf.write(COOKIE, 0, "latin1");
  buf.writeUInt32BE(2, 8); // features: "reserved", always set
  buf.writeUInt32BE(FORMAT_VERSION, 12);
  buf.writeBigUInt64BE(FIXED_DATA_OFFSET, 16);
  const seconds = Math.floor(createdAt.getTime() / 1000) - VHD_EPOCH_SECONDS;
  buf.writeUInt32BE(Math.min(Math.max(seconds, 0), 0xffffffff), 24);
  buf.write("ocg ", 28, "latin1");
  buf.writeUInt32BE(0x00010000, 32);
  buf.write("Wi2k", 36, "latin1");
  buf.writeBigUInt64BE(BigInt(sizeBytes), 40);
  buf.writeBigUInt64BE(BigInt(sizeBytes), 48);
  const geometry = vhdGeometry(sizeBytes);
  buf.writeUInt16BE(geometry.cylinders, 56);
  buf.writeUInt8(geometry.heads, 58);
  buf.writeUInt8(geometry.sectorsPerTrack, 59);
  buf.writeUInt32BE(VhdDiskType.fixed, 60);
  Buffer.from(uniqueId).copy(buf, 68);
  buf.writeUInt32BE(vhdChecksum(buf), 64);
  return buf;
}

/**
 * Azure's rule for `uploadSizeBytes`: a whole number of MiB of disk plus the 512-byte footer,
 * the disk between 20 MiB and 32,767 GiB. Returns the virtual (disk) size.
 */
export function checkAzureUploadSize(totalBytes: number): number {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
    throw new VhdError("bad-size", `upload size ${totalBytes} is not a byte count`, {
      totalBytes: String(totalBytes),
    });
  }
  const diskBytes = totalBytes - VHD_FOOTER_SIZE;
  if (diskBytes < 0 || diskBytes % MIB !== 0) {
    throw new VhdError(
      "upload-size-not-mib-multiple",
      `upload size ${totalBytes} bytes less the 512-byte VHD footer (${diskBytes}) is not a whole number of MiB`,
      { totalBytes, diskBytes },
    );
  }
  if (diskBytes < AZURE_MIN_DISK_BYTES) {
    throw new VhdError(
      "upload-size-too-small",
      `upload size ${totalBytes} bytes is below the minimum of ${AZURE_MIN_DISK_BYTES + VHD_FOOTER_SIZE} (20 MiB + 512)`,
      { totalBytes, diskBytes },
    );
  }
  if (diskBytes > AZURE_MAX_DISK_BYTES) {
    throw new VhdError(
      "upload-size-too-large",
      `upload size ${totalBytes} bytes is above the maximum of ${AZURE_MAX_DISK_BYTES + VHD_FOOTER_SIZE} (32,767 GiB + 512)`,
      { totalBytes, diskBytes },
    );
  }
  return diskBytes;
}

export interface FixedVhd {
  footer: VhdFooter;
  /** The disk itself: the first `footer.currentSize` bytes of the source. */
  disk: RandomAccess;
}

/**
 * Reads the footer at the end of `source` and checks that `source` is a fixed VHD in Azure's
 * format: a valid footer exactly at `size - 512`, disk type fixed, current size = size - 512 and
 * a whole number of MiB. A footer found elsewhere near the end means the file was truncated or
 * padded ("misaligned").
 */
export async function openFixedVhd(
  source: RandomAccess,
  options?: { signal?: AbortSignal },
): Promise<FixedVhd> {
  if (source.size < VHD_FOOTER_SIZE) {
    throw new VhdError("too-short", `${source.size} bytes is too short to hold a VHD footer`, {
      size: source.size,
    });
  }
  const tailLength = Math.min(source.size, 4 * VHD_FOOTER_SIZE);
  const tail = await source.read(source.size - tailLength, tailLength, options);
  const footerBytes = tail.subarray(tailLength - VHD_FOOTER_SIZE);
  if (footerBytes.toString("latin1", 0, 8) !== COOKIE) {
    const found = tail.lastIndexOf(COOKIE, undefined, "latin1");
    if (found >= 0) {
      const at = source.size - tailLength + found;
      throw new VhdError(
        "misaligned",
        `a VHD footer starts at byte ${at}, not at ${source.size - VHD_FOOTER_SIZE}: the file is truncated or has extra bytes`,
        { size: source.size, footerAt: at },
      );
    }
    throw new VhdError("no-footer", `no VHD footer (cookie '${COOKIE}') in the last 512 bytes`, {
      size: source.size,
    });
  }
  const footer = parseVhdFooter(footerBytes);
  if (footer.diskType !== VhdDiskType.fixed) {
    const name =
      Object.entries(VhdDiskType).find(([, v]) => v === footer.diskType)?.[0] ?? "unknown";
    throw new VhdError(
      "not-fixed",
      `VHD disk type is ${footer.diskType} (${name}); only fixed VHDs (type 2) are supported`,
      { diskType: footer.diskType },
    );
  }
  const diskBytes = source.size - VHD_FOOTER_SIZE;
  if (footer.currentSize !== diskBytes) {
    throw new VhdError(
      "size-mismatch",
      `VHD footer says the disk is ${footer.currentSize} bytes, the file holds ${diskBytes} before its footer`,
      { currentSize: footer.currentSize, diskBytes },
    );
  }
  if (diskBytes % MIB !== 0) {
    throw new VhdError(
      "virtual-size-not-mib-multiple",
      `VHD virtual size ${diskBytes} bytes is not a whole number of MiB`,
      { currentSize: diskBytes },
    );
  }
  return { footer, disk: sliceRandomAccess(source, 0, diskBytes) };
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
