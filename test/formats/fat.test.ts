/**
 * FAT12/16/32 on volumes made by mkfs.vfat and mtools: names long and short, paths without
 * regard to case, files across clusters and fragments; and hostile volumes (chains that loop,
 * end early or leave the volume; impossible boot sectors) refused with a FatError.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  FatError,
  FatFileSystem,
  type FatErrorReason,
  type FatVolume,
} from "../../src/formats/fat.js";
import {
  bufferRandomAccess,
  FormatError,
  sliceRandomAccess,
} from "../../src/formats/random-access.js";
import { fatImage } from "./images.js";

const rejectsWith = (reason: FatErrorReason) => (e: unknown) =>
  e instanceof FatError && e.reason === reason;
const open = (image: Uint8Array) => FatFileSystem.open(bufferRandomAccess(image));

const loader = randomBytes(100 * 1024 + 123);
const longName = "A long file name, with spaces.cfg";
const files = {
  "EFI/BOOT/BOOTX64.EFI": loader,
  [`EFI/debian/${longName}`]: Buffer.from("set timeout=5\n"),
  "EFI/debian/grub.cfg": Buffer.from("configfile x\n"),
  "EFI/debian/empty.txt": Buffer.alloc(0),
  "deep/a/b/c/d/e/leaf.bin": Buffer.from("leaf"),
};

const volumes: { bits: 12 | 16 | 32; sizeKiB: number; spc?: number }[] = [
  { bits: 12, sizeKiB: 2048 },
  { bits: 16, sizeKiB: 16 * 1024 },
  { bits: 32, sizeKiB: 40 * 1024, spc: 1 },
];

for (const { bits, sizeKiB, spc } of volumes) {
  describe(`FAT${bits}`, () => {
    const image = fatImage({ fatBits: bits, sizeKiB, sectorsPerCluster: spc, files });

    test("the boot sector gives the type by cluster count and the volume's layout", async () => {
      const fs = await open(image);
      assert.equal(fs.volume.type, `FAT${bits}`);
      assert.equal(fs.volume.volumeLabel, "TESTVOL");
      assert.equal(fs.volume.totalSectors * fs.volume.bytesPerSector, image.length);
    });

    test("paths are found without regard to case, by long or 8.3 name", async () => {
      const fs = await open(image);
      for (const path of [
        "\\EFI\\BOOT\\BOOTX64.EFI",
        "\\efi\\boot\\bootx64.efi",
        "EFI/Boot/BootX64.efi",
      ]) {
        const entry = await fs.lookup(path);
        assert.ok(entry, path);
        assert.equal(entry.size, loader.length);
        assert.deepEqual(await fs.readFile(entry), loader, path);
      }
      const debian = await fs.readDirectory(await fs.lookup("\\EFI\\debian"));
      const long = debian.find((e) => e.name === longName);
      assert.ok(long, `long name listed: ${debian.map((e) => e.name).join(", ")}`);
      assert.match(long.shortName, /^[A-Z0-9_~]{1,8}\.CFG$/, "with an 8.3 alias");
      assert.notEqual(long.shortName, longName);
      for (const path of [
        `\\EFI\\DEBIAN\\${longName.toUpperCase()}`,
        `\\efi\\debian\\${long.shortName.toLowerCase()}`,
      ]) {
        const entry = await fs.lookup(path);
        assert.equal(entry?.name, longName, path);
        assert.equal((await fs.readFile(entry!)).toString(), "set timeout=5\n");
      }
      assert.equal((await fs.lookup("/efi/debian/GRUB.CFG"))?.name, "grub.cfg");
      assert.equal((await fs.readFile((await fs.lookup("/EFI/debian/empty.txt"))!)).length, 0);
      assert.equal(
        (await fs.readFile((await fs.lookup("deep/a/b/c/d/e/leaf.bin"))!)).toString(),
        "leaf",
      );
    });

    test("what is not there is undefined; directories and files are not confused", async () => {
      const fs = await open(image);
      assert.equal(await fs.lookup("\\EFI\\BOOT\\BOOTIA32.EFI"), undefined);
      assert.equal(await fs.lookup("\\EFI\\BOOT\\BOOTX64.EFI\\x"), undefined);
      assert.equal(await fs.lookup("\\NOPE\\BOOTX64.EFI"), undefined);
      assert.equal((await fs.lookup("\\"))?.name, undefined, "the root is no entry");
      const boot = await fs.lookup("\\EFI\\BOOT");
      assert.equal(boot?.isDirectory, true);
      await assert.rejects(fs.readFile(boot!), rejectsWith("is-a-directory"));
      await assert.rejects(
        fs.readDirectory((await fs.lookup("\\EFI\\BOOT\\BOOTX64.EFI"))!),
        rejectsWith("not-a-directory"),
      );
      await assert.rejects(
        fs.readFile((await fs.lookup("\\EFI\\BOOT\\BOOTX64.EFI"))!, { maxBytes: 1000 }),
        rejectsWith("file-too-large"),
      );
    });
  });
}

test("a directory of many clusters and a fragmented file read whole", async () => {
  const many: Record<string, Uint8Array> = {};
  for (let i = 0; i < 300; i++) many[`many/file number ${i}.txt`] = Buffer.from(`#${i}`);
  const image = fatImage({
    fatBits: 16,
    sizeKiB: 16 * 1024,
    sectorsPerCluster: 1,
    files: {
      ...many,
      "a.bin": randomBytes(3000),
      "b.bin": randomBytes(3000),
      "c.bin": randomBytes(3000),
    },
    remove: ["b.bin"],
    thenFiles: { "big.bin": loader },
  });
  const fs = await open(image);
  const listing = await fs.readDirectory(await fs.lookup("many"));
  assert.equal(listing.length, 300);
  assert.equal(
    (await fs.readFile((await fs.lookup("many/FILE NUMBER 299.TXT"))!)).toString(),
    "#299",
  );
  const big = (await fs.lookup("big.bin"))!;
  const chain = await fs.chain(big.firstCluster, { exactly: Math.ceil(big.size / 512) }, "big.bin");
  assert.ok(
    chain.some((c, i) => i > 0 && c !== chain[i - 1]! + 1),
    "big.bin is fragmented (it filled b.bin's hole first)",
  );
  assert.deepEqual(await fs.readFile(big), loader);
});

/** Byte offset of `cluster`'s entry in the first FAT. */
function fatEntryOffset(v: FatVolume, cluster: number): number {
  const base = v.reservedSectors * v.bytesPerSector;
  return base + (v.type === "FAT32" ? cluster * 4 : cluster * 2);
}
function setFatEntry(image: Buffer, v: FatVolume, cluster: number, value: number): void {
  if (v.type === "FAT32") image.writeUInt32LE(value, fatEntryOffset(v, cluster));
  else image.writeUInt16LE(value, fatEntryOffset(v, cluster));
}
/** Offset of the directory entry whose 8.3 name is `name11` (11 bytes, space-padded). */
function dirEntryOffset(image: Buffer, name11: string): number {
  const at = image.indexOf(Buffer.from(name11, "latin1"));
  assert.ok(at >= 0 && image.indexOf(Buffer.from(name11, "latin1"), at + 1) < 0, name11);
  return at;
}

for (const bits of [16, 32] as const) {
  test(`FAT${bits}: cluster chains that loop, end early or leave the volume are refused`, async () => {
    const sizeKiB = bits === 32 ? 40 * 1024 : 16 * 1024;
    const image = fatImage({ fatBits: bits, sizeKiB, sectorsPerCluster: 1, files });
    const v = (await open(image)).volume;
    const entry = (await (await open(image)).lookup("\\EFI\\BOOT\\BOOTX64.EFI"))!;
    const first = entry.firstCluster;
    const eoc = bits === 32 ? 0x0fffffff : 0xffff;
    const bad = bits === 32 ? 0x0ffffff7 : 0xfff7;
    const read = async (patch: (b: Buffer) => void) => {
      const b = Buffer.from(image);
      patch(b);
      const fs = await open(b);
      return fs.readFile((await fs.lookup("\\EFI\\BOOT\\BOOTX64.EFI"))!);
    };
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, first)),
      rejectsWith("chain-cycle"),
    );
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, first + 5)),
      rejectsWith("chain-cycle"),
    );
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, 0)),
      rejectsWith("chain-too-short"),
    );
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, eoc)),
      rejectsWith("chain-too-short"),
    );
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, bad)),
      rejectsWith("bad-cluster"),
    );
    await assert.rejects(
      read((b) => setFatEntry(b, v, first + 5, v.clusterCount + 2)),
      rejectsWith("bad-cluster"),
    );
    const dirEntry = dirEntryOffset(image, "BOOTX64 EFI");
    await assert.rejects(
      read((b) => b.writeUInt16LE(1, dirEntry + 26)),
      rejectsWith("bad-cluster"),
    );
    await assert.rejects(
      read((b) => b.writeUInt32LE(0xffffffff, dirEntry + 28)),
      rejectsWith("file-too-large"),
    );
    // A directory whose chain loops is refused too, not read for ever.
    const bootDir = dirEntryOffset(image, "BOOT       ");
    const bootCluster =
      image.readUInt16LE(bootDir + 26) + (bits === 32 ? image.readUInt16LE(bootDir + 20) << 16 : 0);
    await assert.rejects(
      read((b) => setFatEntry(b, v, bootCluster, bootCluster)),
      rejectsWith("chain-cycle"),
    );
    if (bits === 32) {
      await assert.rejects(
        read((b) => setFatEntry(b, v, v.rootCluster, v.rootCluster)),
        rejectsWith("chain-cycle"),
      );
    }
  });
}

test("impossible boot sectors and volumes larger than their partition are refused", async () => {
  const image = fatImage({ fatBits: 16, sizeKiB: 16 * 1024 });
  const patched = (at: number, bytes: number[]) => {
    const b = Buffer.from(image);
    Buffer.from(bytes).copy(b, at);
    return b;
  };
  await assert.rejects(open(patched(510, [0, 0])), rejectsWith("not-fat"));
  await assert.rejects(open(patched(0, [0, 0, 0])), rejectsWith("not-fat"));
  await assert.rejects(open(patched(11, [0, 0])), rejectsWith("bad-boot-sector"));
  await assert.rejects(open(patched(13, [3])), rejectsWith("bad-boot-sector"));
  await assert.rejects(open(patched(14, [0, 0])), rejectsWith("bad-boot-sector"));
  await assert.rejects(open(patched(16, [0])), rejectsWith("bad-boot-sector"));
  await assert.rejects(open(patched(22, [1, 0])), rejectsWith("bad-boot-sector"), "FAT too small");
  await assert.rejects(open(patched(17, [0, 0])), rejectsWith("bad-boot-sector"), "no root dir");
  await assert.rejects(open(Buffer.alloc(100)), rejectsWith("not-fat"));
  await assert.rejects(
    FatFileSystem.open(sliceRandomAccess(bufferRandomAccess(image), 0, image.length - 512)),
    rejectsWith("volume-exceeds-partition"),
  );
});

test("random damage to a FAT12 volume gives a FatError or an answer, never a hang", async () => {
  const image = fatImage({ fatBits: 12, sizeKiB: 1024, files });
  const fs0 = await open(image);
  const metadataEnd = fs0.volume.dataOffset + 8 * fs0.volume.clusterSize;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(metadataEnd - 1), fc.nat(255)), { minLength: 1, maxLength: 12 }),
      async (edits) => {
        const b = Buffer.from(image);
        for (const [at, v] of edits) b[at] = v;
        try {
          const fs = await open(b);
          for (const path of [
            "\\EFI\\BOOT\\BOOTX64.EFI",
            `EFI/debian/${longName}`,
            "deep/a/b/c/d/e/leaf.bin",
          ]) {
            const entry = await fs.lookup(path);
            if (entry && !entry.isDirectory) await fs.readFile(entry);
          }
        } catch (e) {
          assert.ok(e instanceof FormatError, String(e));
        }
      },
    ),
    { numRuns: 300 },
  );
});
