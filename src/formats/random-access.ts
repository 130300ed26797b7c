/**
 * The one way every disk reader in `formats/` reads bytes: a `RandomAccess` (design note
 * docs/designs/image-bytes.md, "Random access"), and the `FormatError` all readers throw.
 *
 * Contract: `read(offset, length)` returns exactly `length` bytes or fails; a read that does not
 * lie wholly inside `[0, size)` fails with a `FormatError` (reason "out-of-range"), never a
 * RangeError. Readers of hostile input therefore get a typed error for every impossible offset
 * a corrupt structure points at. The returned buffer belongs to the caller (never shared).
 */
import { constants as bufferConstants } from "node:buffer";
import { open, type FileHandle } from "node:fs/promises";

/** Reads `length` bytes at `offset`; bytes past the end are an error, holes read as zeros. */
export interface RandomAccess {
  readonly size: number;
  read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Buffer>;
}

/** A `RandomAccess` over an open file; `close()` releases the handle (idempotent). */
export interface FileRandomAccess extends RandomAccess {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * Malformed or unsupported input. `format` names the reader ("vhd", "gpt", "fat", "pe",
 * "read"), `reason` is a stable machine-readable word callers switch on; the message is for
 * people.
 */
export class FormatError<R extends string = string> extends Error {
  constructor(
    readonly format: string,
    readonly reason: R,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A read outside the source, or a source that changed size under the reader. */
export class ReadRangeError extends FormatError<"out-of-range" | "short-read"> {}

/** Largest single read: keeps a corrupt length field from asking for an impossible buffer. */
export const MAX_READ_BYTES = Math.min(bufferConstants.MAX_LENGTH, 1 << 30);

/** Throws `ReadRangeError` unless `[offset, offset + length)` is a valid read of `size` bytes. */
export function checkRange(size: number, offset: number, length: number): void {
  const ok =
    Number.isSafeInteger(offset) &&
    Number.isSafeInteger(length) &&
    offset >= 0 &&
    length >= 0 &&
    length <= MAX_READ_BYTES &&
    offset + length <= size;
  if (!ok) {
    throw new ReadRangeError(
      "read",
      "out-of-range",
      `read of ${length} bytes at offset ${offset} is outside a source of ${size} bytes`,
    );
  }
}

/** A `RandomAccess` over bytes in memory. Reads return copies. */
export function bufferRandomAccess(buf: Uint8Array): RandomAccess {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    size: bytes.length,
    async read(offset, length, options) {
      options?.signal?.throwIfAborted();
      checkRange(bytes.length, offset, length);
      return Buffer.from(bytes.subarray(offset, offset + length));
    },
  };
}

/**
 * Opens `path` for reading. `size` is the file's size at open; a read that finds the file
 * shorter than that fails with reason "short-read".
 */
export async function fileRandomAccess(path: string): Promise<FileRandomAccess> {
  const handle: FileHandle = await open(path, "r");
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (err) {
    await handle.close();
    throw err;
  }
  let closed = false;
  return {
    path,
    size,
    async read(offset, length, options) {
      options?.signal?.throwIfAborted();
      checkRange(size, offset, length);
      const out = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        options?.signal?.throwIfAborted();
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new ReadRangeError(
            "read",
            "short-read",
            `${path}: ended at ${offset + done} bytes, expected ${size}`,
          );
        }
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** The window `[offset, offset + length)` of `source` as a `RandomAccess` of its own. */
export function sliceRandomAccess(
  source: RandomAccess,
  offset: number,
  length: number,
): RandomAccess {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > source.size
  ) {
    throw new ReadRangeError(
      "read",
      "out-of-range",
      `window of ${length} bytes at offset ${offset} is outside a source of ${source.size} bytes`,
    );
  }
  return {
    size: length,
    async read(at, n, options) {
      checkRange(length, at, n);
      return source.read(offset + at, n, options);
    },
  };
}
