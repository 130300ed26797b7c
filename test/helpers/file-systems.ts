/**
 * tmpfs (/dev/shm) as a second file system beside the test data: between the two a hard link is
 * EXDEV, so chunks are copied rather than shared.
 */
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { join } from "node:path";

const SHM = "/dev/shm";

/** Why a test that needs a file system other than `beside`'s must skip; false when it can run. */
export function noOtherFileSystem(beside: string): string | false {
  if (!existsSync(SHM)) return `${SHM} is missing: no second file system to copy across`;
  if (statSync(SHM).dev === statSync(beside).dev) {
    return `${SHM} is on the same file system as ${beside}`;
  }
  return false;
}

/** A new directory on /dev/shm; the caller removes it. */
export function shmDir(prefix: string): string {
  return mkdtempSync(join(SHM, `${prefix}-`));
}
