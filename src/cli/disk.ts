/**
 * `ocg disk upload` and `ocg disk download`: a local disk file to a managed disk and back, through
 * the server's public API only — DiskRP calls (create for Upload, beginGetAccess, endGetAccess)
 * and the disk access URL's page-blob dialect (Put Page, Get Page Ranges, ranged Get Blob).
 *
 * Upload takes a fixed VHD as it is, or a raw disk image (any file without a VHD footer): the raw
 * disk is rounded up to a whole MiB of zeros (at least Azure's 20 MiB) and a fixed-VHD footer is
 * sent as the last page, so the file is never copied. Only non-zero 64 KiB granules are sent, in
 * Put Page requests of at most 4 MiB, `concurrency` at a time. Download asks for the page ranges
 * and fetches only those, writing around the holes, so the file it writes is sparse.
 */
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { ConfigError } from "../config/config.js";
import {
  createVhdFooter,
  MIB,
  parseVhdFooter,
  VHD_FOOTER_SIZE,
  VhdDiskType,
  VhdError,
  AZURE_MIN_DISK_BYTES,
} from "../formats/vhd.js";
import type { Credentials } from "../identity/bootstrap.js";
import { ApiClient, ApiError, failure, type Answer } from "./api-client.js";

/** The DiskRP api-version az 2.45 uses. */
const DISK_API = "2022-07-02";
const STORAGE_VERSION = "2021-12-02";
/** The most one Put Page or ranged Get Blob moves (Azure's Put Page limit). */
const BLOCK = 4 * MIB;
/** All-zero granules of this size are neither sent nor written. */
const GRANULE = 64 * 1024;
const ZEROS = Buffer.alloc(BLOCK);
/** Page ranges closer than this are fetched in one request (the zeros between are not written). */
const COALESCE_GAP = 256 * 1024;
const ACCESS_SECONDS = 24 * 3600;
const RETRIES = 5;

/** A mistake in what the user asked for, found while doing it (exit 1, message only). */
export class DiskCommandError extends Error {}

export interface UploadOptions {
  resourceGroup: string;
  name: string;
  location: string;
  file: string;
  osType?: string;
  hyperVGeneration?: string;
  /** "auto" (default): a fixed VHD is sent as is, anything without a VHD footer as raw. */
  format?: "auto" | "vhd" | "raw";
  concurrency?: number;
  /** Where progress goes (stderr). */
  log?: (line: string, final: boolean) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions {
  resourceGroup: string;
  name: string;
  file: string;
  format?: "vhd" | "raw";
  concurrency?: number;
  sha256?: boolean;
  overwrite?: boolean;
  log?: (line: string, final: boolean) => void;
  signal?: AbortSignal;
}

/** How a local file becomes the disk's blob: its first `dataBytes`, zeros, then `footer`. */
export interface UploadLayout {
  format: "vhd" | "raw";
  /** Bytes of the file that start the blob. */
  dataBytes: number;
  /** The blob's size: Azure's `uploadSizeBytes` (a whole MiB of disk + 512). */
  blobBytes: number;
  /** The footer to send as the last page; none when the file's own footer is sent. */
  footer?: Buffer;
  /** Things the user should know (padding, a replaced footer). */
  notes: string[];
}

const mib = (n: number) => `${(n / MIB).toFixed(1)} MiB`;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

async function readExactly(fd: FileHandle, buf: Buffer, length: number, position: number) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fd.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new DiskCommandError(`the file ended at byte ${position + done}: did it change?`);
    }
    done += bytesRead;
  }
}

/** A raw disk of `dataBytes`: rounded up to a whole MiB (at least 20 MiB), then a footer. */
function rawLayout(dataBytes: number, what = "the disk's"): UploadLayout {
  const diskBytes = Math.max(roundUp(dataBytes, MIB), AZURE_MIN_DISK_BYTES);
  const notes: string[] = [];
  if (diskBytes !== dataBytes) {
    notes.push(
      `${what} ${dataBytes} bytes are padded with zeros to ${diskBytes} (${diskBytes === AZURE_MIN_DISK_BYTES ? "Azure's minimum, 20 MiB" : "a whole MiB"})`,
    );
  }
  return {
    format: "raw",
    dataBytes,
    blobBytes: diskBytes + VHD_FOOTER_SIZE,
    footer: createVhdFooter(diskBytes),
    notes,
  };
}

/** Decides how to send `file` (see `UploadLayout`); refuses what Azure would refuse. */
export async function uploadLayout(
  fd: FileHandle,
  file: string,
  format: "auto" | "vhd" | "raw",
): Promise<UploadLayout> {
  const { size } = await fd.stat();
  if (size === 0) throw new DiskCommandError(`${file} is empty`);
  if (format === "vhd") return { format: "vhd", dataBytes: size, blobBytes: size, notes: [] };
  const tail = Buffer.alloc(VHD_FOOTER_SIZE);
  if (size >= VHD_FOOTER_SIZE) await readExactly(fd, tail, VHD_FOOTER_SIZE, size - VHD_FOOTER_SIZE);
  if (format === "raw" || tail.toString("latin1", 0, 8) !== "conectix") return rawLayout(size);

  let footer;
  try {
    footer = parseVhdFooter(tail);
  } catch (err) {
    if (!(err instanceof VhdError)) throw err;
    throw new DiskCommandError(
      `${file} ends in a VHD footer that is not valid (${err.message}). Use --format raw to upload the whole file as a raw disk, or --format vhd to send it as it is.`,
    );
  }
  if (footer.diskType !== VhdDiskType.fixed) {
    const kind = footer.diskType === VhdDiskType.differencing ? "differencing" : "dynamic";
    throw new DiskCommandError(
      `${file} is a ${kind} VHD; Azure takes only fixed VHDs. Convert it to a fixed VHD with ` +
        `'qemu-img convert -f vpc -O vpc -o subformat=fixed,force_size ${file} fixed.vhd', or to ` +
        `a raw image with 'qemu-img convert -f vpc -O raw ${file} disk.raw', and upload that.`,
    );
  }
  const diskBytes = size - VHD_FOOTER_SIZE;
  if (footer.currentSize !== diskBytes) {
    throw new DiskCommandError(
      `${file} is not a whole fixed VHD: its footer says the disk is ${footer.currentSize} bytes, the file holds ${diskBytes} before the footer (truncated or padded?).`,
    );
  }
  if (diskBytes % MIB !== 0 || diskBytes < AZURE_MIN_DISK_BYTES) {
    // A fixed VHD sized by CHS geometry (qemu-img without force_size): Azure refuses it, so its
    // disk is sent as a raw disk, padded, with a new footer.
    return rawLayout(
      diskBytes,
      `${file} is a fixed VHD whose size Azure refuses: its footer is replaced and its`,
    );
  }
  return { format: "vhd", dataBytes: size, blobBytes: size, notes: [] };
}

/** Runs tasks with at most `limit` in flight; the first failure stops new ones and is thrown. */
class Pool {
  private readonly inflight = new Set<Promise<void>>();
  private failed: unknown;
  private hasFailed = false;

  constructor(private readonly limit: number) {}

  /** Waits for a free slot, then starts `task`. Throws the first failure of an earlier task. */
  async add(task: () => Promise<void>): Promise<void> {
    while (this.inflight.size >= this.limit && !this.hasFailed) await Promise.race(this.inflight);
    this.check();
    const p: Promise<void> = task().then(
      () => void this.inflight.delete(p),
      (err: unknown) => {
        this.inflight.delete(p);
        if (!this.hasFailed) [this.hasFailed, this.failed] = [true, err];
      },
    );
    this.inflight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.inflight);
    this.check();
  }

  check(): void {
    if (this.hasFailed) throw this.failed;
  }
}

/** Retries a blob request on connection errors, timeouts, 408, 429 and 5xx (backoff, jitter). */
async function withRetries(
  what: string,
  attempt: () => Promise<Answer>,
  ok: (a: Answer) => boolean,
  signal?: AbortSignal,
): Promise<Answer> {
  for (let i = 0; ; i++) {
    let answer: Answer | undefined;
    let error: unknown;
    try {
      answer = await attempt();
      if (ok(answer)) return answer;
    } catch (err) {
      error = err;
    }
    const retryable =
      answer === undefined || answer.status >= 500 || [408, 429].includes(answer.status);
    if (!retryable || i >= RETRIES || signal?.aborted) {
      throw answer ? failure(what, answer) : error;
    }
    await sleep(Math.random() * Math.min(10_000, 200 * 2 ** i));
  }
}

/** Progress lines on stderr: at most one a second, and a last one. */
function progress(log: UploadOptions["log"], render: () => string) {
  let last = 0;
  return {
    tick() {
      const now = Date.now();
      if (now - last >= 1000) {
        last = now;
        log?.(render(), false);
      }
    },
    done() {
      log?.(render(), true);
    },
  };
}

/** Non-zero runs of `buf[0, length)`, by granule, as [start, end) pairs. */
function dataRuns(buf: Buffer, length: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let at = 0; at < length; at += GRANULE) {
    const end = Math.min(length, at + GRANULE);
    if (buf.subarray(at, end).equals(ZEROS.subarray(0, end - at))) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === at) last[1] = end;
    else runs.push([at, end]);
  }
  return runs;
}

function diskPath(credentials: Credentials, resourceGroup: string, name: string): string {
  return `/subscriptions/${credentials.subscriptionId}/resourceGroups/${encodeURIComponent(resourceGroup)}/providers/Microsoft.Compute/disks/${encodeURIComponent(name)}`;
}

async function grant(client: ApiClient, path: string, access: "Read" | "Write"): Promise<URL> {
  const answer = await client.arm("POST", `${path}/beginGetAccess`, DISK_API, {
    access,
    durationInSeconds: ACCESS_SECONDS,
  });
  const sas = answer.json?.accessSAS;
  if (answer.status !== 200 || typeof sas !== "string") {
    throw failure(`cannot get ${access} access to the disk`, answer);
  }
  return new URL(sas);
}

async function revoke(client: ApiClient, path: string, what: string): Promise<void> {
  const answer = await client.arm("POST", `${path}/endGetAccess`, DISK_API);
  if (answer.status !== 200 && answer.status !== 202) throw failure(what, answer);
}

function aborted(signal?: AbortSignal) {
  if (signal?.aborted) throw new DiskCommandError("interrupted");
}

export interface UploadResult {
  id: string;
  format: "vhd" | "raw";
  sizeBytes: number;
  bytesSent: number;
  requests: number;
  seconds: number;
  uploadSeconds: number;
  sealSeconds: number;
}

export async function uploadDisk(
  credentials: Credentials,
  options: UploadOptions,
): Promise<UploadResult> {
  const started = Date.now();
  const concurrency = options.concurrency ?? 8;
  let fd: FileHandle;
  try {
    fd = await open(options.file, "r");
    if (!(await fd.stat()).isFile()) {
      await fd.close();
      throw new DiskCommandError(`${options.file} is not a file`);
    }
  } catch (err) {
    if (err instanceof DiskCommandError) throw err;
    throw new DiskCommandError(`cannot read ${options.file}: ${(err as Error).message}`);
  }
  const client = new ApiClient(credentials, { maxSockets: concurrency });
  try {
    const layout = await uploadLayout(fd, options.file, options.format ?? "auto");
    for (const note of layout.notes) options.log?.(`note: ${note}`, true);
    const path = diskPath(credentials, options.resourceGroup, options.name);

    const existing = await client.arm("GET", path, DISK_API);
    if (existing.status === 200) {
      throw new DiskCommandError(
        `disk '${options.name}' already exists in resource group '${options.resourceGroup}': delete it or choose another name`,
      );
    }
    if (existing.status !== 404) throw failure("cannot look for the disk", existing);
    const created = await client.arm("PUT", path, DISK_API, {
      location: options.location,
      properties: {
        ...(options.osType ? { osType: options.osType } : {}),
        ...(options.hyperVGeneration ? { hyperVGeneration: options.hyperVGeneration } : {}),
        creationData: { createOption: "Upload", uploadSizeBytes: layout.blobBytes },
      },
    });
    // DiskRP answers 202 with an operation to poll; ocg's has finished by the time it answers.
    if (![200, 201, 202].includes(created.status)) {
      throw failure("cannot create the disk", created);
    }
    const id = String(created.json?.id);

    let sealed = false;
    try {
      const sas = await grant(client, path, "Write");
      sas.searchParams.set("comp", "page");
      let sent = 0;
      let found = 0;
      let scanned = 0;
      let requests = 0;
      const uploadStarted = Date.now();
      const report = progress(options.log, () => {
        const seconds = Math.max((Date.now() - uploadStarted) / 1000, 0.001);
        return `upload: ${mib(sent)} sent of ${mib(found)} of data found, ${mib(scanned)} of ${mib(layout.dataBytes)} scanned, ${(sent / MIB / seconds).toFixed(1)} MiB/s`;
      });
      const put = async (offset: number, body: Buffer) => {
        await withRetries(
          `cannot write bytes ${offset}-${offset + body.length - 1}`,
          () =>
            client.send(sas, {
              method: "PUT",
              headers: {
                "x-ms-version": STORAGE_VERSION,
                "x-ms-page-write": "update",
                "x-ms-range": `bytes=${offset}-${offset + body.length - 1}`,
                "content-type": "application/octet-stream",
                "content-length": String(body.length),
              },
              body,
            }),
          (a) => a.status === 201,
          options.signal,
        );
        sent += body.length;
        requests++;
        report.tick();
      };

      const pool = new Pool(concurrency);
      for (let offset = 0; offset < layout.dataBytes; offset += BLOCK) {
        aborted(options.signal);
        pool.check();
        const length = Math.min(BLOCK, layout.dataBytes - offset);
        // A fresh buffer per block: its requests may still be in flight while the next is read.
        const buf = Buffer.allocUnsafe(BLOCK);
        await readExactly(fd, buf, length, offset);
        // The last sector of a raw file that is not a whole sector is completed with zeros.
        const padded = roundUp(length, 512);
        buf.fill(0, length, padded);
        scanned += length;
        for (const [start, end] of dataRuns(buf, padded)) {
          found += end - start;
          await pool.add(() => put(offset + start, buf.subarray(start, end)));
        }
        report.tick();
      }
      if (layout.footer) {
        const footer = layout.footer;
        found += footer.length;
        await pool.add(() => put(layout.blobBytes - VHD_FOOTER_SIZE, footer));
      }
      await pool.drain();
      report.done();
      const uploadSeconds = (Date.now() - uploadStarted) / 1000;

      aborted(options.signal);
      const sealStarted = Date.now();
      options.log?.("sealing: the server checks the VHD and stores its chunks", true);
      await revoke(client, path, "the server refused the upload");
      sealed = true;
      return {
        id,
        format: layout.format,
        sizeBytes: layout.blobBytes,
        bytesSent: sent,
        requests,
        seconds: (Date.now() - started) / 1000,
        uploadSeconds,
        sealSeconds: (Date.now() - sealStarted) / 1000,
      };
    } catch (err) {
      if (!sealed) {
        // Leave nothing half made: end the upload (if still open) and delete the disk.
        await client.arm("POST", `${path}/endGetAccess`, DISK_API).catch(() => undefined);
        const deleted = await client.arm("DELETE", path, DISK_API).catch(() => undefined);
        const note =
          deleted && deleted.status < 300
            ? ` (disk '${options.name}' was deleted)`
            : ` (disk '${options.name}' could not be deleted: delete it before trying again)`;
        if (err instanceof Error) err.message += note;
      }
      throw err;
    }
  } finally {
    client.close();
    await fd.close();
  }
}

export interface DownloadResult {
  id: string;
  file: string;
  format: "vhd" | "raw";
  sizeBytes: number;
  bytesReceived: number;
  requests: number;
  seconds: number;
  /** The transfer alone (without the grant, the page list and the SHA-256). */
  downloadSeconds: number;
  sha256?: string;
}

/** Get Page Ranges (following `NextMarker`): the blob's size and its data ranges [start, end]. */
async function pageRanges(client: ApiClient, sas: URL, signal?: AbortSignal) {
  const ranges: [number, number][] = [];
  let size = -1;
  let marker: string | undefined;
  do {
    const url = new URL(sas);
    url.searchParams.set("comp", "pagelist");
    if (marker) url.searchParams.set("marker", marker);
    const answer = await withRetries(
      "cannot list the disk's page ranges",
      () => client.send(url, { method: "GET", headers: { "x-ms-version": STORAGE_VERSION } }),
      (a) => a.status === 200,
      signal,
    );
    size = Number(answer.headers["x-ms-blob-content-length"]);
    for (const m of answer.text.matchAll(
      /<PageRange><Start>(\d+)<\/Start><End>(\d+)<\/End><\/PageRange>/g,
    )) {
      ranges.push([Number(m[1]), Number(m[2])]);
    }
    marker = /<NextMarker>([^<]+)<\/NextMarker>/.exec(answer.text)?.[1];
  } while (marker);
  if (!Number.isSafeInteger(size) || size < VHD_FOOTER_SIZE) {
    throw new ApiError("the server did not give the disk's size (x-ms-blob-content-length)");
  }
  return { size, ranges };
}

/** Ranges clipped to `[0, limit)` and cut into requests of at most 4 MiB, near ones merged. */
function fetchBlocks(ranges: [number, number][], limit: number): [number, number][] {
  const blocks: [number, number][] = [];
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    let start = a;
    const end = Math.min(b + 1, limit);
    const last = blocks[blocks.length - 1];
    if (last && start - last[1] <= COALESCE_GAP && start >= last[1]) {
      const grow = Math.min(end, last[0] + BLOCK);
      if (grow > last[1]) last[1] = grow;
      start = Math.max(start, last[1]);
    }
    for (; start < end; start += BLOCK) blocks.push([start, Math.min(end, start + BLOCK)]);
  }
  return blocks;
}

export async function downloadDisk(
  credentials: Credentials,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const started = Date.now();
  const concurrency = options.concurrency ?? 8;
  const format = options.format ?? "vhd";
  const exists = await stat(options.file).then(
    (s) => s,
    () => undefined,
  );
  if (exists && !exists.isFile()) throw new DiskCommandError(`${options.file} is not a file`);
  if (exists && !options.overwrite) {
    throw new DiskCommandError(`${options.file} exists: use --overwrite to replace it`);
  }
  const client = new ApiClient(credentials, { maxSockets: concurrency });
  const path = diskPath(credentials, options.resourceGroup, options.name);
  const partial = `${options.file}.partial`;
  let fd: FileHandle | undefined;
  try {
    const disk = await client.arm("GET", path, DISK_API);
    if (disk.status !== 200) throw failure("cannot find the disk", disk);
    const sas = await grant(client, path, "Read");
    try {
      const { size, ranges } = await pageRanges(client, sas, options.signal);
      const outBytes = format === "raw" ? size - VHD_FOOTER_SIZE : size;
      const blocks = fetchBlocks(ranges, outBytes);
      const dataBytes = blocks.reduce((n, [a, b]) => n + b - a, 0);
      try {
        fd = await open(
          partial,
          fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_WRONLY,
          0o644,
        );
      } catch (err) {
        throw new DiskCommandError(`cannot write ${partial}: ${(err as Error).message}`);
      }
      // The holes are never written: the file is sparse where the disk has no data.
      await fd.truncate(outBytes);
      const out = fd;
      let received = 0;
      let requests = 0;
      const downloadStarted = Date.now();
      const report = progress(options.log, () => {
        const seconds = Math.max((Date.now() - downloadStarted) / 1000, 0.001);
        return `download: ${mib(received)} of ${mib(dataBytes)} of data, ${(received / MIB / seconds).toFixed(1)} MiB/s`;
      });
      const fetchBlock = async (start: number, end: number) => {
        const answer = await withRetries(
          `cannot read bytes ${start}-${end - 1}`,
          async () => {
            const a = await client.send(sas, {
              method: "GET",
              headers: {
                "x-ms-version": STORAGE_VERSION,
                "x-ms-range": `bytes=${start}-${end - 1}`,
              },
            });
            if (a.status === 206 && a.body.length !== end - start) {
              throw new ApiError(`short read at byte ${start}: ${a.body.length} of ${end - start}`);
            }
            return a;
          },
          (a) => a.status === 206,
          options.signal,
        );
        const body = answer.body;
        for (const [a, b] of dataRuns(body, body.length)) {
          await out.write(body, a, b - a, start + a);
        }
        received += body.length;
        requests++;
        report.tick();
      };
      const pool = new Pool(concurrency);
      for (const [start, end] of blocks) {
        aborted(options.signal);
        await pool.add(() => fetchBlock(start, end));
      }
      await pool.drain();
      report.done();
      await fd.sync();
      await fd.close();
      fd = undefined;
      await rename(partial, options.file);
      const downloadSeconds = (Date.now() - downloadStarted) / 1000;

      let sha256: string | undefined;
      if (options.sha256) sha256 = await fileSha256(options.file);
      return {
        id: String(disk.json?.id),
        file: options.file,
        format,
        sizeBytes: outBytes,
        bytesReceived: received,
        requests,
        seconds: (Date.now() - started) / 1000,
        downloadSeconds,
        ...(sha256 ? { sha256 } : {}),
      };
    } finally {
      await revoke(client, path, "cannot end the disk's read access").catch((err: Error) =>
        options.log?.(`warning: ${err.message}`, true),
      );
    }
  } catch (err) {
    if (fd) await fd.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  } finally {
    client.close();
  }
}

/** The SHA-256 of a file, read back from disk (holes read as zeros). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  const fd = await open(file, "r");
  try {
    const buf = Buffer.allocUnsafe(16 * MIB);
    for (;;) {
      const { bytesRead } = await fd.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
  return hash.digest("hex");
}

const OS_TYPES = ["Linux", "Windows"];
const GENERATIONS = ["V1", "V2"];

/** One of a fixed set, matched case-insensitively and returned in its canonical spelling. */
function oneOf(flag: string, value: unknown, allowed: string[]): string | undefined {
  if (value === undefined) return undefined;
  const found = allowed.find((a) => a.toLowerCase() === String(value).toLowerCase());
  if (!found) throw new ConfigError(`--${flag} must be one of: ${allowed.join(", ")}`);
  return found;
}

/**
 * `ocg disk upload|download` from parsed flags: checks them (a `ConfigError` for bad use), runs,
 * and returns the JSON line to print. Progress goes to `log`.
 */
export async function diskCommand(
  credentials: () => Credentials,
  action: string | undefined,
  values: Record<string, string | boolean | undefined>,
  io: { log: UploadOptions["log"]; signal?: AbortSignal },
): Promise<string> {
  if (action !== "upload" && action !== "download") {
    throw new ConfigError("disk needs one of: upload, download");
  }
  const need = ["resource-group", "name", "file", ...(action === "upload" ? ["location"] : [])];
  const missing = need.filter((k) => typeof values[k] !== "string" || values[k] === "");
  if (missing.length) {
    throw new ConfigError(`disk ${action} needs ${missing.map((m) => `--${m}`).join(", ")}`);
  }
  let concurrency: number | undefined;
  if (values.concurrency !== undefined) {
    concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new ConfigError("--concurrency must be a whole number from 1 to 64");
    }
  }
  const common = {
    resourceGroup: values["resource-group"] as string,
    name: values.name as string,
    file: values.file as string,
    concurrency,
    log: io.log,
    signal: io.signal,
  };
  if (action === "upload") {
    for (const flag of ["sha256", "overwrite"]) {
      if (values[flag] !== undefined) throw new ConfigError(`--${flag} is for disk download`);
    }
    const result = await uploadDisk(credentials(), {
      ...common,
      location: values.location as string,
      osType: oneOf("os-type", values["os-type"], OS_TYPES),
      hyperVGeneration: oneOf("hyper-v-generation", values["hyper-v-generation"], GENERATIONS),
      format: oneOf("format", values.format, ["auto", "vhd", "raw"]) as UploadOptions["format"],
    });
    return JSON.stringify(result);
  }
  for (const flag of ["location", "os-type", "hyper-v-generation"]) {
    if (values[flag] !== undefined) throw new ConfigError(`--${flag} is for disk upload`);
  }
  const result = await downloadDisk(credentials(), {
    ...common,
    format: oneOf("format", values.format, ["vhd", "raw"]) as DownloadOptions["format"],
    sha256: values.sha256 === true,
    overwrite: values.overwrite === true,
  });
  return JSON.stringify(result);
}
