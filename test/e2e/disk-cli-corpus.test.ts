/**
 * The corpus's 4 GiB sparse raw Debian disk (about 210 MiB of data) through the `ocg` CLI: upload
 * sends only its data and the footer, and a `--format raw` download writes a sparse file whose
 * SHA-256 is the corpus file's (from .corpus/SHA256SUMS). Times are reported as diagnostics.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MIB } from "../../src/formats/vhd.js";
import { corpusFile } from "../formats/images.js";
import { ocg } from "../helpers/cli.js";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.js";

const RG = "corpus-cli";

describe("a corpus disk through ocg disk upload and download", { timeout: 900_000 }, () => {
  let t: TestServer;
  let dir: string;
  before(async () => {
    t = await startTestServer();
    dir = tempDir("cli-corpus");
    await t.resources.resourceGroups.createOrUpdate(RG, { location: "eastus" });
  });
  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("uploads debian-v1.raw and downloads it as raw with the same SHA-256", async (ctx) => {
    const source = corpusFile("debian-v1.raw");
    const sums = readFileSync(join(source, "..", "SHA256SUMS"), "utf8");
    const expected = /^([0-9a-f]{64}) \*?(?:\.\/)?debian-v1\.raw$/m.exec(sums)?.[1];
    assert.ok(expected, "debian-v1.raw is in SHA256SUMS");
    const size = statSync(source).size;

    const up = await ocg(
      ...["disk", "upload", "-g", RG, "-n", "debian", "-l", "eastus", "--file", source],
      ...["--os-type", "Linux", "--hyper-v-generation", "V2", "--data-dir", t.dataDir],
    );
    assert.equal(up.status, 0, up.stderr);
    const uploaded = JSON.parse(up.stdout);
    assert.equal(uploaded.format, "raw");
    assert.equal(uploaded.sizeBytes, size + 512, "a whole MiB already: only the footer is added");
    assert.ok(uploaded.bytesSent < 300 * MIB, `only the data was sent: ${uploaded.bytesSent}`);
    ctx.diagnostic(
      `upload: ${(uploaded.bytesSent / MIB).toFixed(1)} MiB sent in ${uploaded.uploadSeconds} s ` +
        `(${(uploaded.bytesSent / MIB / uploaded.uploadSeconds).toFixed(1)} MiB/s), sealed in ` +
        `${uploaded.sealSeconds} s, ${uploaded.seconds} s in all`,
    );

    const out = join(dir, "debian.raw");
    const down = await ocg(
      ...["disk", "download", "-g", RG, "-n", "debian", "--file", out, "--format", "raw"],
      ...["--sha256", "--data-dir", t.dataDir],
    );
    assert.equal(down.status, 0, down.stderr);
    const downloaded = JSON.parse(down.stdout);
    assert.equal(downloaded.sha256, expected, "the download is the corpus file");
    assert.equal(statSync(out).size, size);
    assert.ok(statSync(out).blocks * 512 < 512 * MIB, "the download is sparse");
    ctx.diagnostic(
      `download: ${(downloaded.bytesReceived / MIB).toFixed(1)} MiB in ${downloaded.downloadSeconds} s ` +
        `(${(downloaded.bytesReceived / MIB / downloaded.downloadSeconds).toFixed(1)} MiB/s), ` +
        `${downloaded.seconds} s in all with the SHA-256`,
    );
  });
});
