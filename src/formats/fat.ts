/**
 * Read-only FAT12/16/32 (Microsoft's FAT specification): the boot sector's BIOS parameter
 * block, cluster chains, directories with 8.3 and long (VFAT) names, case-insensitive lookup of
 * a path such as `\EFI\BOOT\BOOTX64.EFI`, and a file's bytes.
 *
 * Bounded on hostile input: the FAT type comes from the cluster count as the specification
 * says; every cluster number is range-checked; a chain that revisits a cluster is a cycle; a
 * directory is read up to 65536 entries (FAT's own limit) and a file up to `maxBytes`. All
 * failures are `FatError`s.
 */
import { FormatError, ReadRangeError, type RandomAccess } from "./random-access.js";

export type FatType = "FAT12" | "FAT16" | "FAT32";

export type FatErrorReason =
  | "not-fat"
  | "bad-boot-sector"
  | "volume-exceeds-partition"
  | "bad-cluster"
  | "chain-cycle"
  | "chain-too-short"
  | "directory-too-large"
  | "file-too-large"
  | "not-a-directory"
  | "is-a-directory";

export class FatError extends FormatError<FatErrorReason> {
  constructor(reason: FatErrorReason, message: string, options?: { cause?: unknown }) {
    super("fat", reason, message, options);
  }
}

export interface FatVolume {
  type: FatType;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  reservedSectors: number;
  numberOfFats: number;
  fatSectors: number;
  /** The FAT in use (FAT32 can disable mirroring and name one). */
  activeFat: number;
  totalSectors: number;
  clusterCount: number;
  /** FAT12/16: the fixed root directory region. */
  rootDirOffset: number;
  rootDirBytes: number;
  /** FAT32: the root directory's first cluster. */
  rootCluster: number;
  dataOffset: number;
  volumeLabel: string;
}

export interface FatDirEntry {
  /** The long name when there is a valid one, else the 8.3 name (lower-cased as its NT case bits say). */
  name: string;
  /** The 8.3 name as stored (upper case), e.g. "BOOTX64.EFI". */
  shortName: string;
  isDirectory: boolean;
  attributes: number;
  firstCluster: number;
  size: number;
}

const MAX_DIR_ENTRIES = 65536;
const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const FAT_BLOCK = 64 * 1024;

/** The 8.3 name checksum a long-name entry carries (FAT spec, "ChkSum"). */
export function shortNameChecksum(name11: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + (name11[i] ?? 0)) & 0xff;
  return sum;
}

/** Parses the boot sector of a FAT volume of `volumeSize` bytes. */
export function parseFatBootSector(sector: Uint8Array, volumeSize: number): FatVolume {
  const bs = Buffer.from(sector.buffer, sector.byteOffset, sector.byteLength);
  if (bs.length < 512 || bs[510] !== 0x55 || bs[511] !== 0xaa) {
    throw new FatError("not-fat", "no boot sector signature 0x55AA");
  }
  if (!((bs[0] === 0xeb && bs[2] === 0x90) || bs[0] === 0xe9)) {
    throw new FatError("not-fat", "the boot sector does not start with a jump instruction");
  }
  const bytesPerSector = bs.readUInt16LE(11);
  const sectorsPerCluster = bs.readUInt8(13);
  const reservedSectors = bs.readUInt16LE(14);
  const numberOfFats = bs.readUInt8(16);
  const rootEntryCount = bs.readUInt16LE(17);
  const totalSectors = bs.readUInt16LE(19) || bs.readUInt32LE(32);
  const fatSectors16 = bs.readUInt16LE(22);
  const fatSectors = fatSectors16 || bs.readUInt32LE(36);
  const bad = (what: string) => new FatError("bad-boot-sector", `FAT boot sector: ${what}`);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) {
    throw bad(`bytes per sector ${bytesPerSector}`);
  }
  if (sectorsPerCluster === 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) !== 0) {
    throw bad(`sectors per cluster ${sectorsPerCluster}`);
  }
  if (reservedSectors === 0) throw bad("no reserved sectors");
  if (numberOfFats === 0 || numberOfFats > 16) throw bad(`${numberOfFats} FATs`);
  if (fatSectors === 0 || totalSectors === 0) throw bad("zero FAT size or total sectors");
  const rootDirSectors = Math.ceil((rootEntryCount * 32) / bytesPerSector);
  const firstDataSector = reservedSectors + numberOfFats * fatSectors + rootDirSectors;
  if (firstDataSector >= totalSectors) throw bad("the data region starts past the volume's end");
  if (totalSectors * bytesPerSector > volumeSize) {
    throw new FatError(
      "volume-exceeds-partition",
      `FAT volume of ${totalSectors * bytesPerSector} bytes is larger than its partition (${volumeSize})`,
    );
  }
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  const type: FatType = clusterCount < 4085 ? "FAT12" : clusterCount < 65525 ? "FAT16" : "FAT32";
  const bitsPerEntry = type === "FAT12" ? 12 : type === "FAT16" ? 16 : 32;
  if (Math.floor((fatSectors * bytesPerSector * 8) / bitsPerEntry) < clusterCount + 2) {
    throw bad(`a FAT of ${fatSectors} sectors cannot map ${clusterCount} clusters`);
  }
  let rootCluster = 0;
  let activeFat = 0;
  let labelAt = 43;
  if (type === "FAT32") {
    if (rootEntryCount !== 0 || fatSectors16 !== 0) throw bad("FAT32 with a FAT16 root region");
    rootCluster = bs.readUInt32LE(44);
    if (rootCluster < 2 || rootCluster > clusterCount + 1) {
      throw bad(`root cluster ${rootCluster}`);
    }
    const extFlags = bs.readUInt16LE(40);
    if (extFlags & 0x80) activeFat = extFlags & 0x0f;
    if (activeFat >= numberOfFats) throw bad(`active FAT ${activeFat} of ${numberOfFats}`);
    labelAt = 71;
  } else if (rootEntryCount === 0) {
    throw bad(`${type} without root directory entries`);
  }
  const label = bs[labelAt - 5] === 0x29 ? bs.toString("latin1", labelAt, labelAt + 11) : "";
  return {
    type,
    bytesPerSector,
    sectorsPerCluster,
    clusterSize: bytesPerSector * sectorsPerCluster,
    reservedSectors,
    numberOfFats,
    fatSectors,
    activeFat,
    totalSectors,
    clusterCount,
    rootDirOffset: (reservedSectors + numberOfFats * fatSectors) * bytesPerSector,
    rootDirBytes: rootEntryCount * 32,
    rootCluster,
    dataOffset: firstDataSector * bytesPerSector,
    volumeLabel: label.trimEnd(),
  };
}

function lfnChars(e: Buffer): number[] {
  const out: number[] = [];
  for (const [from, to] of [
    [1, 11],
    [14, 26],
    [28, 32],
  ] as const) {
    for (let i = from; i < to; i += 2) out.push(e.readUInt16LE(i));
  }
  return out;
}

/** Parses raw directory bytes (32-byte entries) into entries; "." and ".." are left out. */
export function parseDirectory(bytes: Buffer, type: FatType): FatDirEntry[] {
  const entries: FatDirEntry[] = [];
  let lfn: number[][] = [];
  let lfnChecksum = -1;
  let nextOrdinal = 0;
  const resetLfn = () => {
    lfn = [];
    lfnChecksum = -1;
    nextOrdinal = 0;
  };
  for (let at = 0; at + 32 <= bytes.length; at += 32) {
    const e = bytes.subarray(at, at + 32);
    const first = e[0]!;
    if (first === 0x00) break;
    if (first === 0xe5) {
      resetLfn();
      continue;
    }
    const attributes = e[11]!;
    if ((attributes & 0x3f) === 0x0f) {
      const ordinal = first & 0x1f;
      if (ordinal < 1 || ordinal > 20) {
        resetLfn();
      } else if (first & 0x40) {
        lfn = [];
        lfn[ordinal - 1] = lfnChars(e);
        lfnChecksum = e[13]!;
        nextOrdinal = ordinal - 1;
      } else if (ordinal === nextOrdinal && e[13] === lfnChecksum) {
        lfn[ordinal - 1] = lfnChars(e);
        nextOrdinal = ordinal - 1;
      } else {
        resetLfn();
      }
      continue;
    }
    if (attributes & 0x08) {
      resetLfn(); // volume label
      continue;
    }
    const raw = Buffer.from(e.subarray(0, 11));
    const longName =
      lfn.length > 0 && nextOrdinal === 0 && lfnChecksum === shortNameChecksum(raw)
        ? decodeLfn(lfn)
        : undefined;
    resetLfn();
    if (raw[0] === 0x05) raw[0] = 0xe5;
    const base = raw.toString("latin1", 0, 8).trimEnd();
    const ext = raw.toString("latin1", 8, 11).trimEnd();
    const shortName = ext ? `${base}.${ext}` : base;
    if (shortName === "." || shortName === "..") continue;
    // Without a long name, Windows NT's case bits (byte 12) say how to show an all-upper 8.3 name.
    const caseBits = e[12]!;
    const shownBase = caseBits & 0x08 ? base.toLowerCase() : base;
    const shownExt = caseBits & 0x10 ? ext.toLowerCase() : ext;
    const high = type === "FAT32" ? e.readUInt16LE(20) : 0;
    entries.push({
      name: longName ?? (shownExt ? `${shownBase}.${shownExt}` : shownBase),
      shortName,
      isDirectory: (attributes & 0x10) !== 0,
      attributes,
      firstCluster: high * 0x10000 + e.readUInt16LE(26),
      size: e.readUInt32LE(28),
    });
  }
  return entries;
}

function decodeLfn(parts: number[][]): string | undefined {
  const units: number[] = [];
  for (const part of parts) {
    if (!part) return undefined;
    for (const u of part) {
      if (u === 0x0000) return String.fromCharCode(...units);
      if (u === 0xffff) continue;
      units.push(u);
    }
  }
  return String.fromCharCode(...units);
}

/** A FAT file system on a partition (or a whole image). Not safe for concurrent writers. */
export class FatFileSystem {
  private readonly fatCache = new Map<number, Buffer>();

  private constructor(
    private readonly source: RandomAccess,
    readonly volume: FatVolume,
  ) {}

  /** Reads the boot sector of `source`; fails with a `FatError` if it is no FAT volume. */
  static async open(
    source: RandomAccess,
    options?: { signal?: AbortSignal },
  ): Promise<FatFileSystem> {
    if (source.size < 512) throw new FatError("not-fat", "too small for a FAT boot sector");
    const sector = await source.read(0, 512, options);
    return new FatFileSystem(source, parseFatBootSector(sector, source.size));
  }

  private async fatByte(offset: number, signal?: AbortSignal): Promise<number> {
    const block = Math.floor(offset / FAT_BLOCK);
    let buf = this.fatCache.get(block);
    if (!buf) {
      const v = this.volume;
      const fatStart = (v.reservedSectors + v.activeFat * v.fatSectors) * v.bytesPerSector;
      const fatBytes = v.fatSectors * v.bytesPerSector;
      const from = block * FAT_BLOCK;
      buf = await this.read(fatStart + from, Math.min(FAT_BLOCK, fatBytes - from), signal);
      this.fatCache.set(block, buf);
    }
    return buf[offset % FAT_BLOCK]!;
  }

  /** The FAT entry of `cluster`: the next cluster, or an end-of-chain or bad marker. */
  async fatEntry(cluster: number, options?: { signal?: AbortSignal }): Promise<number> {
    const signal = options?.signal;
    switch (this.volume.type) {
      case "FAT12": {
        const off = cluster + Math.floor(cluster / 2);
        const v = (await this.fatByte(off, signal)) | ((await this.fatByte(off + 1, signal)) << 8);
        return cluster & 1 ? v >> 4 : v & 0xfff;
      }
      case "FAT16": {
        const off = cluster * 2;
        return (await this.fatByte(off, signal)) | ((await this.fatByte(off + 1, signal)) << 8);
      }
      case "FAT32": {
        const off = cluster * 4;
        let v = 0;
        for (let i = 3; i >= 0; i--) v = v * 256 + (await this.fatByte(off + i, signal));
        return v % 0x10000000;
      }
    }
  }

  private endOfChain(entry: number): boolean {
    const t = this.volume.type;
    return entry >= (t === "FAT12" ? 0xff8 : t === "FAT16" ? 0xfff8 : 0x0ffffff8);
  }

  private checkCluster(cluster: number, context: string): void {
    if (cluster < 2 || cluster > this.volume.clusterCount + 1) {
      throw new FatError(
        "bad-cluster",
        `${context}: cluster ${cluster} is outside 2..${this.volume.clusterCount + 1}`,
      );
    }
  }

  /**
   * The chain starting at `first`. With `exactly`, follows that many clusters and fails if the
   * chain ends sooner; otherwise follows it to its end, failing past `max` clusters.
   */
  async chain(
    first: number,
    limit: { exactly?: number; max?: number },
    context: string,
    options?: { signal?: AbortSignal },
  ): Promise<number[]> {
    const clusters: number[] = [];
    const seen = new Set<number>();
    const max = limit.exactly ?? limit.max ?? this.volume.clusterCount;
    let cluster = first;
    for (;;) {
      this.checkCluster(cluster, context);
      if (seen.has(cluster)) {
        throw new FatError("chain-cycle", `${context}: the cluster chain loops at ${cluster}`);
      }
      seen.add(cluster);
      clusters.push(cluster);
      if (limit.exactly !== undefined && clusters.length === limit.exactly) return clusters;
      const next = await this.fatEntry(cluster, options);
      if (this.endOfChain(next)) break;
      if (clusters.length >= max) {
        throw new FatError(
          "directory-too-large",
          `${context}: more than ${max} clusters in the chain`,
        );
      }
      if (next === 0 || next === 1 || next > this.volume.clusterCount + 1) {
        throw new FatError(
          next === 0 ? "chain-too-short" : "bad-cluster",
          `${context}: cluster ${cluster} links to ${next === 0 ? "a free cluster" : `bad marker or cluster ${next}`}`,
        );
      }
      cluster = next;
    }
    if (limit.exactly !== undefined) {
      throw new FatError(
        "chain-too-short",
        `${context}: the chain ends after ${clusters.length} of ${limit.exactly} clusters`,
      );
    }
    return clusters;
  }

  /** Reads the clusters in order, coalescing contiguous runs; returns the first `bytes`. */
  private async readClusters(
    clusters: number[],
    bytes: number,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const out = Buffer.alloc(bytes);
    const size = this.volume.clusterSize;
    let done = 0;
    for (let i = 0; i < clusters.length && done < bytes;) {
      let run = 1;
      while (i + run < clusters.length && clusters[i + run] === clusters[i]! + run) run++;
      const length = Math.min(run * size, bytes - done);
      const data = await this.read(
        this.volume.dataOffset + (clusters[i]! - 2) * size,
        length,
        signal,
      );
      data.copy(out, done);
      done += length;
      i += run;
    }
    return out;
  }

  private async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    try {
      return await this.source.read(offset, length, { signal });
    } catch (err) {
      if (err instanceof ReadRangeError) {
        throw new FatError("volume-exceeds-partition", err.message, { cause: err });
      }
      throw err;
    }
  }

  /** The entries of the root directory, or of `dir` (a directory entry). */
  async readDirectory(
    dir?: FatDirEntry,
    options?: { signal?: AbortSignal },
  ): Promise<FatDirEntry[]> {
    const v = this.volume;
    const signal = options?.signal;
    let bytes: Buffer;
    if (dir === undefined && v.type !== "FAT32") {
      bytes = await this.read(v.rootDirOffset, v.rootDirBytes, signal);
    } else {
      if (dir && !dir.isDirectory) {
        throw new FatError("not-a-directory", `'${dir.name}' is not a directory`);
      }
      const first = dir ? dir.firstCluster : v.rootCluster;
      const context = dir ? `directory '${dir.name}'` : "root directory";
      const max = Math.max(1, Math.ceil((MAX_DIR_ENTRIES * 32) / v.clusterSize));
      const clusters = await this.chain(first, { max }, context, options);
      bytes = await this.readClusters(clusters, clusters.length * v.clusterSize, signal);
    }
    return parseDirectory(bytes, v.type);
  }

  /**
   * Finds `path` (components split on `\` or `/`), comparing long and 8.3 names without regard
   * to case. Undefined when a component does not exist or a parent is not a directory.
   */
  async lookup(path: string, options?: { signal?: AbortSignal }): Promise<FatDirEntry | undefined> {
    const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
    let dir: FatDirEntry | undefined;
    for (const [i, part] of parts.entries()) {
      const want = part.toUpperCase();
      const entries = await this.readDirectory(dir, options);
      const found = entries.find(
        (e) => e.name.toUpperCase() === want || e.shortName.toUpperCase() === want,
      );
      if (!found || (i < parts.length - 1 && !found.isDirectory)) return undefined;
      dir = found;
    }
    return dir;
  }

  /** The bytes of a file entry; fails past `maxBytes` (default 64 MiB). */
  async readFile(
    entry: FatDirEntry,
    options?: { maxBytes?: number; signal?: AbortSignal },
  ): Promise<Buffer> {
    if (entry.isDirectory) throw new FatError("is-a-directory", `'${entry.name}' is a directory`);
    const maxBytes = options?.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (entry.size > maxBytes) {
      throw new FatError(
        "file-too-large",
        `'${entry.name}' is ${entry.size} bytes, more than the ${maxBytes} read`,
      );
    }
    if (entry.size === 0) return Buffer.alloc(0);
    const needed = Math.ceil(entry.size / this.volume.clusterSize);
    const clusters = await this.chain(
      entry.firstCluster,
      { exactly: needed },
      `file '${entry.name}'`,
      options,
    );
    return this.readClusters(clusters, entry.size, options?.signal);
  }
}
