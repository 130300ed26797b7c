/**
 * `ocg disk upload` and `ocg disk download` as a user runs them, against a real server over HTTPS:
 * a raw disk image and a fixed VHD go up (only their data is sent) and come back byte for byte,
 * as a VHD or raw, into sparse files; a dynamic VHD, a broken footer and bad use are refused with
 * a message, and a refused upload leaves no disk behind.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createVhdFooter,
  MIB,
  parseVhdFooter,
  vhdChecksum,
  VhdDiskType,
} from "../../src/formats/vhd.js";
import { ocg } from "../helpers/cli.js";
import { makeVhd } from "../helpers/disks.js";
import { call, startTestServer, tempDir, type TestServer } from "../helpers/server.js";

const RG = "cli-disks";

describe("ocg disk upload and download", () => {
  let t: TestServer;
  let dir: string;
  const disk = (...args: string[]) => ocg("disk", ...args, "--data-dir", t.dataDir);
  const diskPath = (name: string) =>
    `/subscriptions/${t.credentials.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${name}?api-version=2022-07-02`;
  const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  before(async () => {
    t = await startTestServer();
    dir = tempDir("cli-disk-files");
    await t.resources.resourceGroups.createOrUpdate(RG, { location: "eastus" });
  });
  after(async () => t?.close());

  /** A raw disk image of 21 MiB and 1000 bytes (not a whole MiB), zeros but three regions. */
  const raw = Buffer.alloc(21 * MIB + 1000);
  randomBytes(300_000).copy(raw, 1 * MIB + 4096);
  randomBytes(2 * MIB).copy(raw, 9 * MIB);
  randomBytes(900).copy(raw, raw.length - 900);

  it("uploads a raw disk image, padded to a whole MiB with a footer, and downloads it back", async () => {
    const file = join(dir, "disk.raw");
    writeFileSync(file, raw);
    const up = await disk(
      "upload",
      ...["-g", RG, "-n", "fromraw", "-l", "eastus", "--file", file],
      ...["--os-type", "linux", "--hyper-v-generation", "v2", "--concurrency", "3"],
    );
    assert.equal(up.status, 0, up.stderr);
    const result = JSON.parse(up.stdout);
    const diskBytes = 22 * MIB;
    assert.equal(result.format, "raw");
    assert.equal(result.sizeBytes, diskBytes + 512);
    assert.match(
      result.id,
      /\/resourceGroups\/cli-disks\/providers\/Microsoft\.Compute\/disks\/fromraw$/,
    );
    assert.ok(result.bytesSent < 3 * MIB, `only the data was sent: ${result.bytesSent}`);
    assert.equal(typeof result.seconds, "number");
    assert.match(up.stderr, /padded with zeros to 23068672 \(a whole MiB\)/);
    assert.match(up.stderr, /upload: .* MiB sent of .* MiB\/s/);

    const created = await t.compute.disks.get(RG, "fromraw");
    assert.equal(created.diskState, "Unattached");
    assert.equal(created.diskSizeBytes, diskBytes);
    assert.equal(created.osType, "Linux");
    assert.equal(created.hyperVGeneration, "V2");

    const padded = Buffer.concat([raw, Buffer.alloc(diskBytes - raw.length)]);
    const rawOut = join(dir, "fromraw.raw");
    const down = await disk(
      "download",
      ...["-g", RG, "-n", "fromraw", "--file", rawOut, "--format", "raw", "--sha256"],
    );
    assert.equal(down.status, 0, down.stderr);
    const got = readFileSync(rawOut);
    assert.ok(got.equals(padded), "the raw download is the input padded to a whole MiB");
    assert.equal(JSON.parse(down.stdout).sha256, sha256(padded));
    assert.ok(
      statSync(rawOut).blocks * 512 < 8 * MIB,
      `holes are left as holes: ${statSync(rawOut).blocks * 512} bytes allocated`,
    );

    const vhdOut = join(dir, "fromraw.vhd");
    const asVhd = await disk("download", "-g", RG, "-n", "fromraw", "--file", vhdOut);
    assert.equal(asVhd.status, 0, asVhd.stderr);
    const vhd = readFileSync(vhdOut);
    assert.equal(vhd.length, diskBytes + 512);
    assert.ok(vhd.subarray(0, diskBytes).equals(padded));
    const footer = parseVhdFooter(vhd.subarray(diskBytes));
    assert.equal(footer.currentSize, diskBytes);
    assert.equal(footer.diskType, VhdDiskType.fixed);
    assert.equal((await t.compute.disks.get(RG, "fromraw")).diskState, "Unattached", "revoked");

    const again = await disk("download", "-g", RG, "-n", "fromraw", "--file", vhdOut);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists: use --overwrite/);
    const over = await disk("download", "-g", RG, "-n", "fromraw", "--file", vhdOut, "--overwrite");
    assert.equal(over.status, 0, over.stderr);
    assert.ok(readFileSync(vhdOut).equals(vhd));
  });

  it("uploads a fixed VHD as it is and downloads it byte for byte, as VHD and as raw", async () => {
    const vhd = makeVhd(24);
    const file = join(dir, "disk.vhd");
    writeFileSync(file, vhd);
    const up = await disk("upload", "-g", RG, "-n", "fromvhd", "-l", "eastus", "--file", file);
    assert.equal(up.status, 0, up.stderr);
    const result = JSON.parse(up.stdout);
    assert.equal(result.format, "vhd");
    assert.equal(result.sizeBytes, vhd.length);
    assert.ok(result.bytesSent < 4 * MIB, `zeros were skipped: ${result.bytesSent}`);
    assert.doesNotMatch(up.stderr, /note:/);

    const vhdOut = join(dir, "fromvhd.vhd");
    const down = await disk("download", "-g", RG, "-n", "fromvhd", "--file", vhdOut, "--sha256");
    assert.equal(down.status, 0, down.stderr);
    assert.ok(readFileSync(vhdOut).equals(vhd), "the VHD comes back byte for byte");
    assert.equal(JSON.parse(down.stdout).sha256, sha256(vhd));
    const rawOut = join(dir, "fromvhd.raw");
    const asRaw = await disk(
      "download",
      ...["-g", RG, "-n", "fromvhd", "--file", rawOut, "--format", "raw"],
    );
    assert.equal(asRaw.status, 0, asRaw.stderr);
    assert.ok(readFileSync(rawOut).equals(vhd.subarray(0, 24 * MIB)), "raw drops the footer");
  });

  it("pads a fixed VHD whose size is not a whole MiB (qemu-img's CHS sizes), with a new footer", async () => {
    const diskBytes = 21 * MIB + 3 * 512;
    const data = Buffer.alloc(diskBytes);
    randomBytes(5000).copy(data, diskBytes - 5000);
    const file = join(dir, "chs.vhd");
    writeFileSync(file, Buffer.concat([data, createVhdFooter(diskBytes)]));
    const up = await disk("upload", "-g", RG, "-n", "chs", "-l", "eastus", "--file", file);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(JSON.parse(up.stdout).format, "raw");
    assert.match(up.stderr, /is a fixed VHD whose size Azure refuses: its footer is replaced/);
    const out = join(dir, "chs.raw");
    const down = await disk("download", "-g", RG, "-n", "chs", "--file", out, "--format", "raw");
    assert.equal(down.status, 0, down.stderr);
    assert.ok(readFileSync(out).equals(Buffer.concat([data, Buffer.alloc(22 * MIB - diskBytes)])));
  });

  it("refuses a dynamic VHD with a way to convert it, creating nothing", async () => {
    // A dynamic VHD's file ends in a footer of type 3 (its blocks sit before it).
    const footer = createVhdFooter(64 * MIB);
    footer.writeBigUInt64BE(512n, 16);
    footer.writeUInt32BE(VhdDiskType.dynamic, 60);
    footer.writeUInt32BE(vhdChecksum(footer), 64);
    const file = join(dir, "dynamic.vhd");
    writeFileSync(file, Buffer.concat([footer, Buffer.alloc(2048), footer]));
    const up = await disk("upload", "-g", RG, "-n", "dynamic", "-l", "eastus", "--file", file);
    assert.equal(up.status, 1);
    assert.match(up.stderr, /dynamic VHD; Azure takes only fixed VHDs/);
    assert.match(up.stderr, /qemu-img convert -f vpc -O vpc -o subformat=fixed,force_size/);
    assert.doesNotMatch(up.stderr, /\n\s+at /, "no stack trace");
    assert.equal((await call(t, "GET", diskPath("dynamic"))).status, 404);
  });

  it("shows the server's InvalidVhd for a broken VHD and deletes the disk it made", async () => {
    const vhd = makeVhd(20);
    const checksumAt = vhd.length - 512 + 64;
    vhd.writeUInt32BE((vhd.readUInt32BE(checksumAt) ^ 1) >>> 0, checksumAt); // a wrong checksum
    const file = join(dir, "broken.vhd");
    writeFileSync(file, vhd);

    const local = await disk("upload", "-g", RG, "-n", "broken", "-l", "eastus", "--file", file);
    assert.equal(local.status, 1);
    assert.match(local.stderr, /ends in a VHD footer that is not valid \(VHD footer checksum/);
    assert.match(local.stderr, /--format raw/);

    const asIs = await disk(
      "upload",
      ...["-g", RG, "-n", "broken", "-l", "eastus", "--file", file, "--format", "vhd"],
    );
    assert.equal(asIs.status, 1);
    assert.match(
      asIs.stderr,
      /^ocg: the server refused the upload: InvalidVhd: .*not a supported VHD/m,
    );
    assert.match(asIs.stderr, /\(disk 'broken' was deleted\)/);
    assert.equal((await call(t, "GET", diskPath("broken"))).status, 404);
  });

  it("refuses bad use with a message", async () => {
    const file = join(dir, "small.raw");
    writeFileSync(file, randomBytes(4096));
    const cases: [string[], number, RegExp][] = [
      [["upload", "-g", RG, "-n", "x", "--file", file], 2, /disk upload needs --location/],
      [["frobnicate"], 2, /disk needs one of: upload, download/],
      [
        ["upload", "-g", RG, "-n", "x", "-l", "eastus", "--file", file, "--os-type", "mac"],
        2,
        /--os-type must be one of: Linux, Windows/,
      ],
      [
        ["upload", "-g", RG, "-n", "x", "-l", "eastus", "--file", file, "--concurrency", "0"],
        2,
        /--concurrency must be a whole number/,
      ],
      [
        ["download", "-g", RG, "-n", "x", "--file", file, "--format", "qcow2"],
        2,
        /--format must be one of: vhd, raw/,
      ],
      [
        ["upload", "-g", RG, "-n", "x", "-l", "eastus", "--file", join(dir, "nope.raw")],
        1,
        /cannot read .*nope\.raw: ENOENT/,
      ],
      [
        ["upload", "-g", RG, "-n", "fromvhd", "-l", "eastus", "--file", file],
        1,
        /disk 'fromvhd' already exists in resource group 'cli-disks'/,
      ],
      [
        ["upload", "-g", "nogroup", "-n", "x", "-l", "eastus", "--file", file],
        1,
        /cannot create the disk: ResourceGroupNotFound/,
      ],
      [
        ["download", "-g", RG, "-n", "nodisk", "--file", join(dir, "out")],
        1,
        /cannot find the disk: ResourceNotFound/,
      ],
      [["download", "-g", RG, "-n", "fromvhd", "--file", dir, "--overwrite"], 1, /is not a file/],
    ];
    for (const [args, status, message] of cases) {
      const r = await disk(...args);
      assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    // The small raw file itself is fine: padded to Azure's minimum of 20 MiB.
    const ok = await disk("upload", "-g", RG, "-n", "small", "-l", "eastus", "--file", file);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /padded with zeros to 20971520 \(Azure's minimum, 20 MiB\)/);
  });
});
