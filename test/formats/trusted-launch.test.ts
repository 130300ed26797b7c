/**
 * Trusted Launch validation end to end on small GPT disks assembled in the test (ESP made by
 * mkfs.vfat): each missing piece fails exactly its check, named, with the checks before it
 * passed and none after it run.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { EFI_SYSTEM_PARTITION_GUID } from "../../src/formats/gpt.js";
import { bufferRandomAccess, type RandomAccess } from "../../src/formats/random-access.js";
import {
  validateTrustedLaunch,
  type TrustedLaunchCheckName,
  type TrustedLaunchResult,
} from "../../src/formats/trusted-launch.js";
import { fatImage, gptDisk, peImage, type PeOptions } from "./images.js";

const LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const ORDER: TrustedLaunchCheckName[] = [
  "GPT",
  "EFI System Partition",
  "FAT file system",
  "boot loader",
  "PE32+ x64 EFI application",
  "Authenticode signature",
  "Authenticode digest",
];

function disk(options: {
  loader?: Uint8Array | null;
  espType?: string;
  espContent?: Uint8Array;
  mbrType?: number;
}): RandomAccess {
  const files: Record<string, Uint8Array> = { "EFI/debian/grubx64.efi": Buffer.from("grub") };
  if (options.loader !== null) files["EFI/BOOT/BOOTX64.EFI"] = options.loader ?? peImage();
  const esp = options.espContent ?? fatImage({ fatBits: 12, sizeKiB: 2048, files });
  return bufferRandomAccess(
    gptDisk(
      8192,
      [
        {
          typeGuid: options.espType ?? EFI_SYSTEM_PARTITION_GUID,
          firstLba: 2048,
          lastLba: 6143,
          content: esp,
        },
        { typeGuid: LINUX_FS, firstLba: 6144, lastLba: 8000 },
      ],
      { mbrType: options.mbrType },
    ),
  );
}

/** The result failed at `name` with a detail matching `detail`, every earlier check passed. */
function failedAt(result: TrustedLaunchResult, name: TrustedLaunchCheckName, detail: RegExp) {
  assert.equal(result.status, "Failed");
  const at = ORDER.indexOf(name);
  assert.deepEqual(
    result.checks.map((c) => [c.name, c.passed]),
    ORDER.slice(0, at + 1).map((n, i) => [n, i < at]),
  );
  assert.match(result.checks[at]!.detail, detail);
}

test("a GPT disk with a signed x64 loader on a FAT ESP passes every check", async () => {
  const result = await validateTrustedLaunch(disk({}));
  assert.equal(result.status, "Succeeded", JSON.stringify(result, null, 2));
  assert.deepEqual(
    result.checks.map((c) => c.name),
    ORDER,
  );
  assert.ok(result.checks.every((c) => c.passed && c.detail.length > 0));
  assert.match(result.checks[2]!.detail, /^FAT12/);
});

test("each missing piece fails its own check, named", async () => {
  failedAt(await validateTrustedLaunch(disk({ mbrType: 0x83 })), "GPT", /^no GPT: /);
  failedAt(
    await validateTrustedLaunch(disk({ espType: LINUX_FS })),
    "EFI System Partition",
    /^no EFI System Partition/,
  );
  failedAt(
    await validateTrustedLaunch(disk({ espContent: Buffer.alloc(4096) })),
    "FAT file system",
    /^no FAT file system on the EFI System Partition: /,
  );
  failedAt(
    await validateTrustedLaunch(disk({ loader: null })),
    "boot loader",
    /^\\EFI\\BOOT\\BOOTX64\.EFI not found$/,
  );
  failedAt(
    await validateTrustedLaunch(disk({ loader: Buffer.from("#!/bin/sh\necho not a loader\n") })),
    "PE32+ x64 EFI application",
    /^not a PE32\+ x64 EFI application: no DOS header/,
  );
  const notX64: [PeOptions, RegExp][] = [
    [{ machine: 0xaa64 }, /machine 0xaa64/],
    [{ magic: 0x10b }, /not PE32\+/],
    [{ subsystem: 11 }, /subsystem 11/],
  ];
  for (const [options, why] of notX64) {
    const result = await validateTrustedLaunch(disk({ loader: peImage(options) }));
    failedAt(result, "PE32+ x64 EFI application", /^not a PE32\+ x64 EFI application: /);
    assert.match(result.checks.at(-1)!.detail, why);
  }
  failedAt(
    await validateTrustedLaunch(disk({ loader: peImage({ unsigned: true }) })),
    "Authenticode signature",
    /^no Authenticode signature: no certificate table/,
  );
  failedAt(
    await validateTrustedLaunch(disk({ loader: peImage({ certificateType: 1 }) })),
    "Authenticode signature",
    /^no Authenticode signature: no WIN_CERTIFICATE of revision 0x0200 and type PKCS_SIGNED_DATA/,
  );
  failedAt(
    await validateTrustedLaunch(disk({ loader: peImage({ digest: Buffer.alloc(32, 7) }) })),
    "Authenticode digest",
    /^Authenticode digest does not match the file/,
  );
});

test("I/O errors and aborts are thrown, not reported as a failed check", async () => {
  const good = disk({});
  const broken: RandomAccess = {
    size: good.size,
    read: async (offset, length, options) => {
      if (offset > 0) throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
      return good.read(offset, length, options);
    },
  };
  await assert.rejects(validateTrustedLaunch(broken), /EIO/);
  await assert.rejects(validateTrustedLaunch(good, { signal: AbortSignal.abort() }), {
    name: "AbortError",
  });
});
