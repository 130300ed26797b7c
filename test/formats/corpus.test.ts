/**
 * The format readers on the real disk corpus (scripts/corpus.sh → .corpus/; `npm run
 * setup:test` builds it): Debian's GPT disk with Microsoft-signed shim passes Trusted Launch
 * validation, the MBR disk does not, qemu-img's fixed VHDs are Azure's upload format, and
 * damaged copies (seen through byte overlays, never copied) are refused for the right reason.
 * Without the corpus these tests fail, saying how to build it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FatFileSystem } from "../../src/formats/fat.js";
import { findEfiSystemPartition, readGpt } from "../../src/formats/gpt.js";
import { findAuthenticodeSignatures, parsePe, readCertificates } from "../../src/formats/pe.js";
import {
  fileRandomAccess,
  sliceRandomAccess,
  type FileRandomAccess,
  type RandomAccess,
} from "../../src/formats/random-access.js";
import {
  BOOT_LOADER_PATH,
  validateTrustedLaunch,
  type TrustedLaunchCheckName,
} from "../../src/formats/trusted-launch.js";
import {
  checkAzureUploadSize,
  MIB,
  openFixedVhd,
  VhdError,
  type VhdErrorReason,
} from "../../src/formats/vhd.js";
import { corpusDiskBytes, corpusFile, flip, overlay } from "./images.js";

const opened: FileRandomAccess[] = [];
async function corpus(name: string): Promise<FileRandomAccess> {
  const ra = await fileRandomAccess(corpusFile(name));
  opened.push(ra);
  return ra;
}
after(async () => {
  for (const ra of opened) await ra.close();
});

const vhdRejects = (reason: VhdErrorReason) => (e: unknown) =>
  e instanceof VhdError && e.reason === reason;

async function failedCheck(disk: RandomAccess): Promise<[TrustedLaunchCheckName, string]> {
  const result = await validateTrustedLaunch(disk);
  assert.equal(result.status, "Failed", JSON.stringify(result, null, 2));
  const last = result.checks.at(-1)!;
  assert.equal(last.passed, false);
  assert.ok(result.checks.slice(0, -1).every((c) => c.passed));
  return [last.name, last.detail];
}

describe("Trusted Launch on the corpus", () => {
  for (const name of ["debian-v1.raw", "debian-v2.raw"]) {
    test(`${name} (GPT, ESP, signed shim) passes`, async () => {
      const result = await validateTrustedLaunch(await corpus(name));
      assert.equal(result.status, "Succeeded", JSON.stringify(result, null, 2));
      assert.equal(result.checks.length, 7);
      assert.match(result.checks.find((c) => c.name === "FAT file system")!.detail, /^FAT32/);
      assert.match(
        result.checks.find((c) => c.name === "Authenticode signature")!.detail,
        /sha256/,
      );
    });
  }

  test("debian-v1.vhd passes, read through its fixed-VHD disk view", async () => {
    const { disk } = await openFixedVhd(await corpus("debian-v1.vhd"));
    assert.equal((await validateTrustedLaunch(disk)).status, "Succeeded");
  });

  for (const name of ["mbr-v1.raw", "mbr-v1.vhd"]) {
    test(`${name} fails with "no GPT"`, async () => {
      let disk: RandomAccess = await corpus(name);
      if (name.endsWith(".vhd")) disk = (await openFixedVhd(disk)).disk;
      const result = await validateTrustedLaunch(disk);
      assert.equal(result.status, "Failed");
      assert.deepEqual(
        result.checks.map((c) => [c.name, c.passed]),
        [["GPT", false]],
      );
      assert.match(result.checks[0]!.detail, /^no GPT: .*MBR partition table/);
    });
  }
});

describe("the signed shim on debian-v1, tampered with", () => {
  let disk: FileRandomAccess;
  let loader: Buffer;
  /** Disk offset of byte `at` of BOOTX64.EFI. */
  let onDisk: (at: number) => number;
  /** The disk with bytes `at` of BOOTX64.EFI XOR-ed with `mask`. */
  const patch = (at: number[], mask: number) =>
    overlay(
      disk,
      at.map((a) => flip(onDisk(a), loader[a]!, mask)),
    );

  before(async () => {
    disk = await corpus("debian-v1.raw");
    const esp = findEfiSystemPartition(await readGpt(disk))!;
    const fat = await FatFileSystem.open(sliceRandomAccess(disk, esp.offset, esp.length));
    const entry = (await fat.lookup(BOOT_LOADER_PATH))!;
    loader = await fat.readFile(entry);
    const size = fat.volume.clusterSize;
    const clusters = await fat.chain(
      entry.firstCluster,
      { exactly: Math.ceil(entry.size / size) },
      "loader",
    );
    onDisk = (at) =>
      esp.offset +
      fat.volume.dataOffset +
      (clusters[Math.floor(at / size)]! - 2) * size +
      (at % size);
  });

  test("the shim is PE32+ signed twice, by Microsoft's 2011 and 2023 UEFI CAs", () => {
    const certs = readCertificates(loader, parsePe(loader));
    assert.deepEqual(
      certs.map((c) => [c.revision, c.certificateType]),
      [
        [0x0200, 0x0002],
        [0x0200, 0x0002],
      ],
    );
    assert.ok(certs[0]!.data.includes(Buffer.from("Microsoft Corporation UEFI CA 2011")));
    assert.ok(certs[1]!.data.includes(Buffer.from("Microsoft UEFI CA 2023")));
  });

  test("certificate types changed: one left still signs it, none left is no signature", async () => {
    const certs = readCertificates(loader, parsePe(loader));
    const one = await validateTrustedLaunch(patch([certs[0]!.offset + 6], 0x01));
    assert.equal(one.status, "Succeeded");
    assert.match(one.checks[5]!.detail, /^1 PKCS#7 SignedData signature/);
    const [check, detail] = await failedCheck(
      patch(
        certs.map((c) => c.offset + 6),
        0x01,
      ),
    );
    assert.equal(check, "Authenticode signature");
    assert.match(detail, /^no Authenticode signature: no WIN_CERTIFICATE of revision 0x0200/);
  });

  test("a byte of each PKCS#7 content type flipped: no Authenticode signature", async () => {
    const certs = readCertificates(loader, parsePe(loader));
    const oids = certs.map((c) =>
      loader.indexOf(Buffer.from("06092a864886f70d010702", "hex"), c.offset),
    );
    oids.forEach((at, i) => assert.ok(at > certs[i]!.offset && at < certs[i]!.offset + 32));
    const [check, detail] = await failedCheck(
      patch(
        oids.map((at) => at + 10),
        0x04,
      ),
    );
    assert.equal(check, "Authenticode signature");
    assert.match(detail, /^no Authenticode signature: .*the PKCS#7 content is not signedData/);
  });

  test("a byte of the digest each signature signed flipped: the digest does not match", async () => {
    const pe = parsePe(loader);
    const places = findAuthenticodeSignatures(loader, pe).map(
      (s) => loader.indexOf(s.digest, s.certificate.offset) + 5,
    );
    assert.equal(places.length, 2);
    const one = await validateTrustedLaunch(patch(places.slice(0, 1), 0x01));
    assert.equal(one.status, "Succeeded");
    assert.match(one.checks[6]!.detail, /^1 of 2 signature\(s\) match/);
    const [check, detail] = await failedCheck(patch(places, 0x01));
    assert.equal(check, "Authenticode digest");
    assert.match(detail, /^Authenticode digest does not match the file/);
  });

  test("its code changed after signing: the digest does not match", async () => {
    const text = parsePe(loader).sections.find((s) => s.name === ".text")!;
    const [check] = await failedCheck(patch([text.rawOffset + 1000], 0x01));
    assert.equal(check, "Authenticode digest");
  });

  test("its certificate table removed: no Authenticode signature", async () => {
    const dir = parsePe(loader).certificateDirectoryOffset!;
    const zeros = Array.from({ length: 8 }, (_, i) => ({
      offset: onDisk(dir + i),
      bytes: Uint8Array.of(0),
    }));
    const [check, detail] = await failedCheck(overlay(disk, zeros));
    assert.equal(check, "Authenticode signature");
    assert.match(detail, /^no Authenticode signature: no certificate table/);
  });

  test("its machine changed: not a PE32+ x64 EFI application", async () => {
    const machine = loader.readUInt32LE(0x3c) + 4;
    const [check, detail] = await failedCheck(patch([machine + 1], 0x20));
    assert.equal(check, "PE32+ x64 EFI application");
    assert.match(detail, /^not a PE32\+ x64 EFI application: machine 0xa664/);
  });
});

describe("VHD uploads from the corpus", () => {
  test("qemu-img's fixed VHD is Azure's format: n MiB + 512, footer fixed and consistent", async () => {
    const vhd = await corpus("debian-v1.vhd");
    const diskBytes = corpusDiskBytes();
    assert.equal(vhd.size, diskBytes + 512);
    assert.equal(checkAzureUploadSize(vhd.size), diskBytes);
    const { footer, disk } = await openFixedVhd(vhd);
    assert.equal(footer.diskType, 2);
    assert.equal(footer.currentSize, diskBytes);
    assert.equal(footer.creatorApplication, "qem2");
    assert.equal(disk.size, diskBytes);
    const raw = await corpus("debian-v1.raw");
    for (const at of [0, MIB, diskBytes - MIB]) {
      assert.deepEqual(await disk.read(at, MIB), await raw.read(at, MIB), `bytes at ${at}`);
    }
  });

  test("a raw disk (no footer) is no VHD", async () => {
    await assert.rejects(openFixedVhd(await corpus("debian-v1.raw")), vhdRejects("no-footer"));
  });

  test("a truncated upload is refused: by its size, and by its footer", async () => {
    const vhd = await corpus("debian-v1.vhd");
    for (const cut of [1, 100, 504]) {
      const short = overlay(vhd, [], vhd.size - cut);
      assert.throws(
        () => checkAzureUploadSize(short.size),
        vhdRejects("upload-size-not-mib-multiple"),
      );
      await assert.rejects(openFixedVhd(short), vhdRejects("misaligned"));
    }
    // Cut further, not even the footer's cookie is left; by a whole MiB the size looks right.
    await assert.rejects(openFixedVhd(overlay(vhd, [], vhd.size - 511)), vhdRejects("no-footer"));
    const mibShort = overlay(vhd, [], vhd.size - MIB);
    assert.equal(checkAzureUploadSize(mibShort.size), corpusDiskBytes() - MIB);
    await assert.rejects(openFixedVhd(mibShort), vhdRejects("no-footer"));
  });

  test("a misaligned upload (bytes after the footer) is refused", async () => {
    const vhd = await corpus("debian-v1.vhd");
    const long = overlay(vhd, [], vhd.size + 100);
    assert.throws(
      () => checkAzureUploadSize(long.size),
      vhdRejects("upload-size-not-mib-multiple"),
    );
    await assert.rejects(openFixedVhd(long), vhdRejects("misaligned"));
  });

  test("a footer with a bad checksum is refused", async () => {
    const vhd = await corpus("mbr-v1.vhd");
    const at = vhd.size - 512 + 70; // inside the unique id
    const [original] = await vhd.read(at, 1);
    await assert.rejects(
      openFixedVhd(overlay(vhd, [flip(at, original!, 0x01)])),
      vhdRejects("bad-checksum"),
    );
  });

  test("a dynamic VHD (qemu-img subformat=dynamic) is refused as not fixed", async () => {
    await assert.rejects(
      openFixedVhd(await corpus("debian-v1-dynamic.vhd")),
      (e: unknown) =>
        vhdRejects("not-fixed")(e) && /type is 3 \(dynamic\)/.test((e as Error).message),
    );
  });
});
