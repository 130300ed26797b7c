/** GPT: protective MBR, headers and entry arrays with their CRCs, backup header, hostile tables. */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import {
  crc32,
  EFI_SYSTEM_PARTITION_GUID,
  findEfiSystemPartition,
  formatGuid,
  GptError,
  guidBytes,
  readGpt,
  tableCrc32,
  type GptErrorReason,
} from "../../src/formats/gpt.js";
import { bufferRandomAccess, FormatError } from "../../src/formats/random-access.js";
import { tempDir } from "../helpers/server.js";
import { gptDisk, tool } from "./images.js";

const LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
const rejectsWith = (reason: GptErrorReason) => (e: unknown) =>
  e instanceof GptError && e.reason === reason;
const twoPartitions = [
  { typeGuid: EFI_SYSTEM_PARTITION_GUID, firstLba: 64, lastLba: 127, name: "EFI" },
  { typeGuid: LINUX_FS, firstLba: 128, lastLba: 1000, name: "root" },
];

test("CRC-32 is the IEEE one, from zlib or from the table alike", () => {
  assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  assert.equal(tableCrc32(Buffer.from("123456789")), 0xcbf43926);
  const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
  assert.equal(tableCrc32(data), crc32(data));
  assert.equal(tableCrc32(data.subarray(100), tableCrc32(data.subarray(0, 100))), crc32(data));
});

test("GUIDs are stored mixed-endian and printed upper-case", () => {
  const b = guidBytes(EFI_SYSTEM_PARTITION_GUID);
  assert.equal(b.toString("hex"), "28732ac11ff8d211ba4b00a0c93ec93b");
  assert.equal(formatGuid(b), EFI_SYSTEM_PARTITION_GUID);
});

test("a GPT disk lists its partitions and finds the EFI System Partition", async () => {
  const gpt = await readGpt(bufferRandomAccess(gptDisk(2048, twoPartitions)));
  assert.equal(gpt.source, "primary");
  assert.equal(gpt.header.numberOfEntries, 128);
  assert.deepEqual(
    gpt.partitions.map((p) => [p.number, p.name, p.typeGuid, p.firstLba, p.lastLba]),
    [
      [1, "EFI", EFI_SYSTEM_PARTITION_GUID, 64, 127],
      [2, "root", LINUX_FS, 128, 1000],
    ],
  );
  const esp = findEfiSystemPartition(gpt);
  assert.equal(esp?.offset, 64 * 512);
  assert.equal(esp?.length, 64 * 512);
  assert.equal(findEfiSystemPartition({ partitions: gpt.partitions.slice(1) }), undefined);
});

test("a disk partitioned by sgdisk reads as sgdisk wrote it", async () => {
  const path = join(tempDir("gpt"), "disk.img");
  writeFileSync(path, Buffer.alloc(0));
  tool("truncate", ["-s", "40M", path]);
  tool("sgdisk", [
    "-o",
    ...["-n", "1:2048:+16M", "-t", "1:EF00", "-c", "1:EFI system"],
    ...["-n", "2:0:0", "-t", "2:8304", "-c", "2:root"],
    path,
  ]);
  const gpt = await readGpt(bufferRandomAccess(readFileSync(path)));
  assert.equal(gpt.source, "primary");
  assert.equal(gpt.partitions.length, 2);
  const [esp, root] = gpt.partitions;
  assert.equal(esp!.typeGuid, EFI_SYSTEM_PARTITION_GUID);
  assert.equal(esp!.name, "EFI system");
  assert.equal(esp!.firstLba, 2048);
  assert.equal(esp!.length, 16 * 1024 * 1024);
  assert.equal(root!.typeGuid, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "8304: Linux x86-64 root");
  assert.equal(root!.lastLba, gpt.header.lastUsableLba);
});

test("an MBR disk, or no partition table, is no GPT", async () => {
  await assert.rejects(
    readGpt(bufferRandomAccess(gptDisk(2048, twoPartitions, { mbrType: 0x83 }))),
    (e: unknown) => rejectsWith("no-protective-mbr")(e) && /MBR partition table/.test(String(e)),
  );
  await assert.rejects(
    readGpt(bufferRandomAccess(Buffer.alloc(1 << 20))),
    rejectsWith("no-protective-mbr"),
  );
  await assert.rejects(
    readGpt(bufferRandomAccess(Buffer.alloc(1024))),
    rejectsWith("no-protective-mbr"),
  );
  const noHeaders = gptDisk(2048, twoPartitions);
  noHeaders.fill(0, 512, 1024);
  noHeaders.fill(0, noHeaders.length - 512);
  await assert.rejects(readGpt(bufferRandomAccess(noHeaders)), rejectsWith("no-gpt-header"));
});

test("a damaged primary header or entry array falls back to the backup; both damaged fails", async () => {
  const disk = gptDisk(2048, twoPartitions);
  const headerHit = Buffer.from(disk);
  headerHit[512 + 60] = headerHit[512 + 60]! ^ 1; // inside the disk GUID: the header CRC no longer holds
  const viaBackup = await readGpt(bufferRandomAccess(headerHit));
  assert.equal(viaBackup.source, "backup");
  assert.equal(viaBackup.primaryError?.reason, "bad-header-crc");
  assert.equal(viaBackup.partitions.length, 2);

  const entriesHit = Buffer.from(disk);
  entriesHit[2 * 512 + 56] = entriesHit[2 * 512 + 56]! ^ 1; // a name character of partition 1
  const viaBackup2 = await readGpt(bufferRandomAccess(entriesHit));
  assert.equal(viaBackup2.source, "backup");
  assert.equal(viaBackup2.primaryError?.reason, "bad-entries-crc");

  const both = Buffer.from(headerHit);
  both[both.length - 512 + 60] = both[both.length - 512 + 60]! ^ 1;
  await assert.rejects(readGpt(bufferRandomAccess(both)), rejectsWith("bad-header-crc"));
});

test("hostile headers are refused before anything large is read", async () => {
  const hostile = async (mutate: (h: Buffer) => void, reason: GptErrorReason) => {
    const disk = gptDisk(2048, twoPartitions, { mutateHeader: mutate });
    disk.fill(0, disk.length - 512); // no backup to fall back to
    await assert.rejects(readGpt(bufferRandomAccess(disk)), rejectsWith(reason));
  };
  await hostile((h) => h.writeUInt32LE(0xffffffff, 80), "too-many-entries");
  await hostile((h) => h.writeUInt32LE(16384, 84), "bad-header");
  await hostile((h) => h.writeUInt32LE(100, 84), "bad-header");
  await hostile((h) => h.writeUInt32LE(600, 12), "bad-header");
  await hostile((h) => h.writeBigUInt64LE(2n ** 62n, 72), "bad-header");
  await hostile((h) => h.writeBigUInt64LE(2040n, 72), "bad-header"); // array past the end
  await hostile((h) => h.writeBigUInt64LE(1500n, 72), "bad-entries-crc");
  await hostile((h) => h.writeBigUInt64LE(5n, 24), "bad-header");
  await hostile((h) => h.writeBigUInt64LE(99999n, 48), "bad-header");
  const outside = gptDisk(2048, [{ typeGuid: LINUX_FS, firstLba: 100, lastLba: 5000 }]);
  await assert.rejects(readGpt(bufferRandomAccess(outside)), rejectsWith("bad-partition"));
});

test("random damage to a GPT disk gives a GptError or a table, nothing else", async () => {
  const disk = gptDisk(256, twoPartitions.slice(0, 1), { entries: 16 });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(3 * 512 - 1), fc.nat(255)), { minLength: 1, maxLength: 6 }),
      async (edits) => {
        const b = Buffer.from(disk);
        for (const [at, v] of edits) b[at] = v;
        try {
          await readGpt(bufferRandomAccess(b));
        } catch (e) {
          assert.ok(e instanceof GptError || e instanceof FormatError, String(e));
        }
      },
    ),
    { numRuns: 500 },
  );
});
