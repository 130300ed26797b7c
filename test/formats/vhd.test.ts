/** VHD footers and Azure's upload format: what is accepted, and the reason for each refusal. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { bufferRandomAccess, FormatError } from "../../src/formats/random-access.js";
import {
  checkAzureUploadSize,
  createVhdFooter,
  MIB,
  openFixedVhd,
  parseVhdFooter,
  vhdChecksum,
  VhdError,
  vhdGeometry,
  type VhdErrorReason,
} from "../../src/formats/vhd.js";
import { overlay } from "./images.js";

const rejectsWith = (reason: VhdErrorReason) => (e: unknown) =>
  e instanceof VhdError && e.reason === reason;

/** A fixed VHD of `diskBytes` (patterned, so truncation is visible) with `footer` appended. */
function vhd(diskBytes: number, footer = createVhdFooter(diskBytes)): Buffer {
  const disk = Buffer.alloc(diskBytes);
  for (let i = 0; i < diskBytes; i += 4096) disk[i] = 1;
  return Buffer.concat([disk, footer]);
}

test("a footer made for a size parses back with the spec's fields and a valid checksum", () => {
  const id = Buffer.from("00112233445566778899aabbccddeeff", "hex");
  const createdAt = new Date("2024-01-01T00:00:00Z");
  const bytes = createVhdFooter(4096 * MIB, { uniqueId: id, createdAt });
  assert.equal(bytes.length, 512);
  assert.equal(bytes.toString("latin1", 0, 8), "conectix");
  const f = parseVhdFooter(bytes);
  assert.equal(f.diskType, 2);
  assert.equal(f.currentSize, 4096 * MIB);
  assert.equal(f.originalSize, 4096 * MIB);
  assert.equal(f.dataOffset, 0xffffffffffffffffn);
  assert.equal(f.formatVersion, 0x00010000);
  assert.equal(f.features, 2);
  assert.equal(f.uniqueId, id.toString("hex"));
  assert.equal(f.timestamp, 757382400, "seconds since 2000-01-01");
  assert.equal(f.checksum, vhdChecksum(bytes));
  assert.deepEqual(f.geometry, { cylinders: 8322, heads: 16, sectorsPerTrack: 63 });
});

test("geometry follows the VHD specification's algorithm", () => {
  assert.deepEqual(vhdGeometry(20 * MIB), { cylinders: 602, heads: 4, sectorsPerTrack: 17 });
  assert.deepEqual(vhdGeometry(4096 * MIB), { cylinders: 8322, heads: 16, sectorsPerTrack: 63 });
  // Past 65535*16*63 sectors the geometry is 255 sectors per track, and it saturates.
  assert.deepEqual(vhdGeometry(127 * 1024 * MIB), {
    cylinders: 65278,
    heads: 16,
    sectorsPerTrack: 255,
  });
  assert.deepEqual(vhdGeometry(32 * 1024 * 1024 * MIB), {
    cylinders: 65535,
    heads: 16,
    sectorsPerTrack: 255,
  });
});

test("a footer with a wrong checksum, cookie or version is refused for that reason", () => {
  const good = createVhdFooter(64 * MIB);
  const changed = (at: number, value: number) => {
    const b = Buffer.from(good);
    b[at] = value;
    return b;
  };
  assert.throws(() => parseVhdFooter(changed(100, 1)), rejectsWith("bad-checksum"));
  assert.throws(() => parseVhdFooter(changed(67, good[67]! ^ 1)), rejectsWith("bad-checksum"));
  assert.throws(() => parseVhdFooter(changed(0, 0x43)), rejectsWith("no-footer"));
  const v2 = changed(13, 2);
  v2.writeUInt32BE(vhdChecksum(v2), 64);
  assert.throws(() => parseVhdFooter(v2), rejectsWith("unsupported-version"));
  assert.throws(() => parseVhdFooter(good.subarray(0, 511)), rejectsWith("too-short"));
  const huge = Buffer.from(good);
  huge.writeBigUInt64BE(2n ** 63n, 48);
  huge.writeUInt32BE(vhdChecksum(huge), 64);
  assert.throws(() => parseVhdFooter(huge), rejectsWith("bad-size"));
});

test("upload sizes: a whole number of MiB plus 512, 20 MiB to 32,767 GiB, as Azure says", () => {
  assert.equal(checkAzureUploadSize(20 * MIB + 512), 20 * MIB);
  assert.equal(checkAzureUploadSize(4096 * MIB + 512), 4096 * MIB);
  assert.equal(checkAzureUploadSize(35183298347520), 32767 * 1024 * MIB);
  const cases: [number, VhdErrorReason][] = [
    [4096 * MIB, "upload-size-not-mib-multiple"],
    [4096 * MIB + 511, "upload-size-not-mib-multiple"],
    [4096 * MIB + 513, "upload-size-not-mib-multiple"],
    [511, "upload-size-not-mib-multiple"],
    [19 * MIB + 512, "upload-size-too-small"],
    [512, "upload-size-too-small"],
    [35183298347520 + MIB, "upload-size-too-large"],
    [-1, "bad-size"],
    [1.5, "bad-size"],
  ];
  for (const [size, reason] of cases) {
    assert.throws(() => checkAzureUploadSize(size), rejectsWith(reason), String(size));
  }
  // What api/ needs to render Azure's message: "The upload size in bytes 1940546048 - 512 bytes
  // for the VHD footer (1940545536 in this case) must be a multiple of MiB."
  assert.throws(
    () => checkAzureUploadSize(1940546048),
    (e: unknown) =>
      e instanceof VhdError &&
      e.details.totalBytes === 1940546048 &&
      e.details.diskBytes === 1940545536,
  );
});

test("a fixed VHD opens as its disk; the disk view ends before the footer", async () => {
  const file = vhd(20 * MIB);
  const { footer, disk } = await openFixedVhd(bufferRandomAccess(file));
  assert.equal(footer.currentSize, 20 * MIB);
  assert.equal(disk.size, 20 * MIB);
  assert.equal((await disk.read(0, 1))[0], 1);
  await assert.rejects(disk.read(20 * MIB - 1, 2), FormatError);
});

test("truncated, padded, dynamic and inconsistent VHDs are refused with the reason", async () => {
  const file = vhd(20 * MIB);
  const ra = bufferRandomAccess(file);
  const open = (source = ra) => openFixedVhd(source);
  await assert.rejects(open(overlay(ra, [], file.length - 1)), rejectsWith("misaligned"));
  await assert.rejects(open(overlay(ra, [], file.length - 300)), rejectsWith("misaligned"));
  await assert.rejects(open(overlay(ra, [], file.length + 100)), rejectsWith("misaligned"));
  await assert.rejects(open(overlay(ra, [], file.length - 512)), rejectsWith("no-footer"));
  await assert.rejects(open(overlay(ra, [], file.length - MIB)), rejectsWith("no-footer"));
  await assert.rejects(open(overlay(ra, [], 100)), rejectsWith("too-short"));
  const checksumAt = file.length - 512 + 64;
  await assert.rejects(
    open(overlay(ra, [{ offset: checksumAt, bytes: Buffer.of(file[checksumAt]! ^ 0x10) }])),
    rejectsWith("bad-checksum"),
  );

  const dynamic = Buffer.from(createVhdFooter(20 * MIB));
  dynamic.writeUInt32BE(3, 60);
  dynamic.writeBigUInt64BE(512n, 16);
  dynamic.writeUInt32BE(vhdChecksum(dynamic), 64);
  await assert.rejects(
    open(bufferRandomAccess(Buffer.concat([dynamic, Buffer.alloc(1536), dynamic]))),
    (e: unknown) => rejectsWith("not-fixed")(e) && /dynamic/.test((e as Error).message),
  );
  await assert.rejects(
    open(bufferRandomAccess(vhd(20 * MIB, createVhdFooter(10 * MIB)))),
    rejectsWith("size-mismatch"),
  );
  await assert.rejects(
    open(bufferRandomAccess(vhd(20 * MIB + 4096))),
    rejectsWith("virtual-size-not-mib-multiple"),
  );
});

test("any 512 bytes parse or fail with a VhdError, nothing else", () => {
  const good = createVhdFooter(64 * MIB);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(511), fc.nat(255)), { maxLength: 8 }),
      fc.boolean(),
      (edits, fixChecksum) => {
        const b = Buffer.from(good);
        for (const [at, v] of edits) b[at] = v;
        if (fixChecksum) b.writeUInt32BE(vhdChecksum(b), 64);
        try {
          parseVhdFooter(b);
        } catch (e) {
          assert.ok(e instanceof VhdError, String(e));
        }
      },
    ),
    { numRuns: 2000 },
  );
});
