/**
 * Trusted Launch validation of a disk's content: what a Gen2 VM with Secure Boot needs to find
 * on the OS disk before firmware takes over. In order, each check only if the previous passed:
 *   1. "GPT": a protective MBR and a valid GPT;
 *   2. "EFI System Partition": a partition of type C12A7328-F81F-11D2-BA4B-00A0C93EC93B;
 *   3. "FAT file system": the ESP holds FAT12/16/32;
 *   4. "boot loader": `\EFI\BOOT\BOOTX64.EFI` exists on it;
 *   5. "PE32+ x64 EFI application": machine 0x8664, PE32+, subsystem 10;
 *   6. "Authenticode signature": a WIN_CERTIFICATE (0x0200, PKCS_SIGNED_DATA) with an
 *      Authenticode SignedData (one or more: firmware boots a loader if any signature holds);
 *   7. "Authenticode digest": at least one signature signed the file's digest (the file was not
 *      changed after signing).
 * The result lists the checks that ran; the first that failed names exactly what is missing.
 * Malformed structures fail a check (never throw); I/O errors and aborts are thrown.
 */
import { FatFileSystem } from "./fat.js";
import { findEfiSystemPartition, readGpt } from "./gpt.js";
import {
  authenticodeDigest,
  efiApplicationProblems,
  findAuthenticodeSignatures,
  parsePe,
  PeError,
} from "./pe.js";
import { FormatError, sliceRandomAccess, type RandomAccess } from "./random-access.js";

export const BOOT_LOADER_PATH = "\\EFI\\BOOT\\BOOTX64.EFI";
/** Largest boot loader read (shim is about 1 MiB, grub a few). */
const MAX_LOADER_BYTES = 64 * 1024 * 1024;

export type TrustedLaunchCheckName =
  | "GPT"
  | "EFI System Partition"
  | "FAT file system"
  | "boot loader"
  | "PE32+ x64 EFI application"
  | "Authenticode signature"
  | "Authenticode digest";

export interface TrustedLaunchCheck {
  name: TrustedLaunchCheckName;
  passed: boolean;
  detail: string;
}

export interface TrustedLaunchResult {
  status: "Succeeded" | "Failed";
  checks: TrustedLaunchCheck[];
}

class CheckFailed extends Error {}

/**
 * Validates the disk content `disk` (a raw disk: for a VHD pass `openFixedVhd(source).disk`).
 * Throws only for I/O errors and aborts (`options.signal`).
 */
export async function validateTrustedLaunch(
  disk: RandomAccess,
  options?: { signal?: AbortSignal },
): Promise<TrustedLaunchResult> {
  const checks: TrustedLaunchCheck[] = [];
  const pass = (name: TrustedLaunchCheckName, detail: string) =>
    checks.push({ name, passed: true, detail });
  const fail = (name: TrustedLaunchCheckName, detail: string): never => {
    checks.push({ name, passed: false, detail });
    throw new CheckFailed(detail);
  };
  /** Runs `step`; a format error of the expected kind fails check `name` with `prefix`. */
  const attempt = async <T>(
    name: TrustedLaunchCheckName,
    prefix: string,
    step: () => Promise<T> | T,
    expected: (err: unknown) => boolean = (err) => err instanceof FormatError,
  ): Promise<T> => {
    try {
      return await step();
    } catch (err) {
      if (err instanceof CheckFailed || !expected(err)) throw err;
      return fail(name, `${prefix}: ${(err as Error).message}`);
    }
  };

  try {
    const gpt = await attempt("GPT", "no GPT", () => readGpt(disk, options));
    pass(
      "GPT",
      `${gpt.source} GPT header, ${gpt.partitions.length} partition(s)` +
        (gpt.primaryError ? ` (primary header: ${gpt.primaryError.message})` : ""),
    );

    const esp = findEfiSystemPartition(gpt);
    if (!esp) {
      return fail(
        "EFI System Partition",
        `no EFI System Partition: no partition of type C12A7328-F81F-11D2-BA4B-00A0C93EC93B among ${gpt.partitions.length}`,
      );
    }
    pass(
      "EFI System Partition",
      `partition ${esp.number}, ${esp.length} bytes at LBA ${esp.firstLba}`,
    );

    const fat = await attempt(
      "FAT file system",
      "no FAT file system on the EFI System Partition",
      () => FatFileSystem.open(sliceRandomAccess(disk, esp.offset, esp.length), options),
    );
    pass(
      "FAT file system",
      `${fat.volume.type}, ${fat.volume.clusterCount} clusters of ${fat.volume.clusterSize} bytes`,
    );

    const entry = await attempt("boot loader", `${BOOT_LOADER_PATH} not found`, () =>
      fat.lookup(BOOT_LOADER_PATH, options),
    );
    if (!entry || entry.isDirectory) {
      return fail(
        "boot loader",
        `${BOOT_LOADER_PATH} not found${entry ? " (it is a directory)" : ""}`,
      );
    }
    const loader = await attempt("boot loader", `${BOOT_LOADER_PATH} cannot be read`, () =>
      fat.readFile(entry, { maxBytes: MAX_LOADER_BYTES, signal: options?.signal }),
    );
    pass("boot loader", `${BOOT_LOADER_PATH}, ${loader.length} bytes`);

    const pe = await attempt("PE32+ x64 EFI application", "not a PE32+ x64 EFI application", () =>
      parsePe(loader),
    );
    const problems = efiApplicationProblems(pe);
    if (problems.length > 0) {
      fail("PE32+ x64 EFI application", `not a PE32+ x64 EFI application: ${problems.join("; ")}`);
    }
    pass("PE32+ x64 EFI application", `${pe.sections.length} sections`);

    const signatures = await attempt(
      "Authenticode signature",
      "no Authenticode signature",
      () => findAuthenticodeSignatures(loader, pe),
      (err) => err instanceof PeError,
    );
    pass(
      "Authenticode signature",
      `${signatures.length} PKCS#7 SignedData signature(s): ` +
        signatures
          .map(
            (s) =>
              `${s.certificate.length} bytes at ${s.certificate.offset} (${s.digestAlgorithm})`,
          )
          .join(", "),
    );

    const digests = new Map<string, Buffer>();
    const digestOf = (algorithm: string) => {
      let d = digests.get(algorithm);
      if (!d) digests.set(algorithm, (d = authenticodeDigest(loader, pe, algorithm)));
      return d;
    };
    const matching = signatures.filter((s) => digestOf(s.digestAlgorithm).equals(s.digest));
    if (matching.length === 0) {
      const first = signatures[0]!;
      fail(
        "Authenticode digest",
        `Authenticode digest does not match the file: signed ${first.digest.toString("hex")}, file hashes to ${digestOf(first.digestAlgorithm).toString("hex")} (${first.digestAlgorithm})`,
      );
    }
    const { digestAlgorithm } = matching[0]!;
    pass(
      "Authenticode digest",
      `${matching.length} of ${signatures.length} signature(s) match: ${digestAlgorithm} ${digestOf(digestAlgorithm).toString("hex")}`,
    );
    return { status: "Succeeded", checks };
  } catch (err) {
    if (err instanceof CheckFailed) return { status: "Failed", checks };
    throw err;
  }
}
