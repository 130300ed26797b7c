/**
 * End to end with the real Azure CLI (az 2.45, Debian package `azure-cli`): the commands that
 * `ocg az-login --run` prints register this server as a cloud and log in, then `az group` and
 * `az sig` drive galleries and image definitions through their whole life, reading az's JSON.
 * Then image bytes: a disk created for upload (its pages written through the access URL az
 * grants, with @azure/storage-blob, as az 2.45 has no page upload of its own), a snapshot of it,
 * an image version replicated to two regions, and disks deployed from it whose bytes are read
 * back through a Read grant; and the README's walk from a disk file to a deployed disk with
 * `ocg disk` and az. az is slow (1-2 s a call), so each test does a short scenario with as few
 * calls as it can.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, readFileSync, rmSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AnonymousCredential, PageBlobClient } from "@azure/storage-blob";
import { azLoginCommands } from "../../src/cli/az-login.js";
import { MIB, parseVhdFooter } from "../../src/formats/vhd.js";
import { makeVhd } from "../helpers/disks.js";
import { ocg } from "../helpers/cli.js";
import { startTestServer, tempDir, type TestServer } from "../helpers/server.js";

const TEST_TIMEOUT_MS = 120_000;
const CALL_TIMEOUT_MS = 60_000;

interface AzResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function azOnPath(): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, "az"), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let t: TestServer;
let azEnv: NodeJS.ProcessEnv;
let azHome: string;

/** Every az call made, with how long it took. */
const calls: { args: string[]; startedAt: number; ms: number }[] = [];

/** Runs az with an argument array (no shell), stdin closed so that az can never prompt. */
function run(args: string[]): Promise<AzResult> {
  const startedAt = Date.now();
  return new Promise<AzResult>((resolve, reject) => {
    const child = spawn("az", args, {
      env: azEnv,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: CALL_TIMEOUT_MS,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  }).finally(() => calls.push({ args, startedAt, ms: Date.now() - startedAt }));
}

/**
 * The longest a single az call may take. az starts in 1-5 s on a busy machine and polls a
 * long-running operation after the server's Retry-After (1 s); without one it would sit out its
 * default 30 s, which this bound catches.
 */
const SLOWEST_CALL_MS = 25_000;

/** An az command that must succeed; its JSON output, parsed (undefined when az prints nothing). */
async function az(...args: string[]): Promise<any> {
  const r = await run([...args, "-o", "json"]);
  assert.equal(
    r.code,
    0,
    `az ${args.join(" ")} exited with ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`,
  );
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

/** An az command that must fail; its stderr, which must name `code`. */
async function azFails(code: string, ...args: string[]): Promise<string> {
  const r = await run([...args, "-o", "json"]);
  assert.notEqual(r.code, 0, `az ${args.join(" ")} should have failed; it printed:\n${r.stdout}`);
  assert.match(r.stderr, new RegExp(code), `az ${args.join(" ")} failed without ${code}`);
  return r.stderr;
}

describe("az CLI against ocg", { timeout: 5 * TEST_TIMEOUT_MS }, () => {
  const rg = "rg-az-e2e";
  const gallery = "galAzE2e";
  const image = "img-az-1";
  let sub: string;
  let galleryId: string;

  before(async () => {
    assert.ok(
      azOnPath(),
      "the Azure CLI (`az`) is not installed: run `npm run setup:test` (it installs the Debian package azure-cli)",
    );
    t = await startTestServer();
    sub = t.credentials.subscriptionId;
    galleryId = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/${gallery}`;
    azHome = tempDir("az");
    const { env, commands } = azLoginCommands(t.credentials, azHome);
    // The developer's own az settings (AZURE_DEFAULTS_LOCATION, ...) must not leak in.
    const inherited = Object.entries(process.env).filter(([k]) => !/^AZURE_/i.test(k));
    // A proxy in the environment must not see the calls to localhost.
    const noProxy = ["localhost", "127.0.0.1", process.env.NO_PROXY, process.env.no_proxy]
      .filter(Boolean)
      .join(",");
    azEnv = {
      ...Object.fromEntries(inherited),
      ...env,
      // The shared test CA; credentials name the server certificate when it is given to the server.
      REQUESTS_CA_BUNDLE: join(process.env.OCG_TEST_TLS_DIR!, "ca.pem"),
      AZURE_CORE_COLLECT_TELEMETRY: "no",
      AZURE_CORE_ONLY_SHOW_ERRORS: "true",
      AZURE_CORE_NO_COLOR: "true",
      AZURE_CORE_DISABLE_CONFIRM_PROMPT: "true",
      AZURE_CORE_SURVEY_MESSAGE: "false",
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    };
    for (const [cmd, ...args] of commands) {
      assert.equal(cmd, "az");
      const r = await run(args);
      assert.equal(r.code, 0, `az ${args.slice(0, 2).join(" ")} failed:\n${r.stderr}`);
    }
  });

  after(async () => {
    await t?.close();
    if (azHome) rmSync(azHome, { recursive: true, force: true });
  });

  test("logs in with the service principal", { timeout: TEST_TIMEOUT_MS }, async () => {
    const account = await az("account", "show");
    assert.equal(account.id, sub);
    assert.equal(account.environmentName, "ocg");
    assert.equal(account.user.type, "servicePrincipal");
    assert.equal(account.user.name, t.credentials.clientId);
  });

  test("gallery: create, show, list, update", { timeout: TEST_TIMEOUT_MS }, async () => {
    const group = await az("group", "create", "-n", rg, "-l", "eastus");
    assert.equal(group.name, rg);
    assert.equal(group.location, "eastus");
    assert.equal(group.properties.provisioningState, "Succeeded");

    const created = await az("sig", "create", "-g", rg, "-r", gallery);
    assert.equal(created.name, gallery);
    assert.equal(created.id, galleryId);
    assert.equal(created.location, "eastus");
    assert.equal(created.provisioningState, "Succeeded");
    assert.equal(created.identifier.uniqueName, `${sub}-${gallery.toUpperCase()}`);
    assert.equal(created.description, null);

    const shown = await az("sig", "show", "-g", rg, "-r", gallery);
    assert.equal(shown.id, galleryId);
    assert.equal(shown.provisioningState, "Succeeded");
    assert.equal(shown.identifier.uniqueName, `${sub}-${gallery.toUpperCase()}`);

    const all = (await az("sig", "list")) as any[];
    assert.deepEqual(
      all.map((g) => g.name),
      [gallery],
    );
    const inGroup = (await az("sig", "list", "-g", rg)) as any[];
    assert.deepEqual(
      inGroup.map((g) => g.name),
      [gallery],
    );
    assert.equal(inGroup[0].location, "eastus");

    const updated = await az(
      "sig",
      "update",
      "-g",
      rg,
      "-r",
      gallery,
      "--set",
      "description=Built by the az e2e test",
    );
    assert.equal(updated.description, "Built by the az e2e test");
    assert.equal(updated.provisioningState, "Succeeded");
    assert.equal(updated.identifier.uniqueName, `${sub}-${gallery.toUpperCase()}`);
  });

  test("image definition: create, show, list, update", { timeout: TEST_TIMEOUT_MS }, async () => {
    const imageId = `${galleryId}/images/${image}`;
    const created = await az(
      "sig",
      "image-definition",
      "create",
      "-g",
      rg,
      "-r",
      gallery,
      "-i",
      image,
      "--os-type",
      "linux",
      "-p",
      "pub1",
      "-f",
      "offer1",
      "-s",
      "sku1",
    );
    assert.equal(created.name, image);
    assert.equal(created.id, imageId);
    assert.equal(created.location, "eastus");
    assert.equal(created.provisioningState, "Succeeded");
    assert.equal(created.osType, "Linux");
    assert.equal(created.osState, "Generalized");
    assert.equal(created.hyperVGeneration, "V1");
    assert.deepEqual(created.identifier, { publisher: "pub1", offer: "offer1", sku: "sku1" });

    const shown = await az("sig", "image-definition", "show", "-g", rg, "-r", gallery, "-i", image);
    assert.equal(shown.id, imageId);
    assert.equal(shown.provisioningState, "Succeeded");
    assert.equal(shown.osType, "Linux");
    assert.deepEqual(shown.identifier, { publisher: "pub1", offer: "offer1", sku: "sku1" });

    const listed = (await az("sig", "image-definition", "list", "-g", rg, "-r", gallery)) as any[];
    assert.deepEqual(
      listed.map((i) => i.id),
      [imageId],
    );

    const updated = await az(
      "sig",
      "image-definition",
      "update",
      "-g",
      rg,
      "-r",
      gallery,
      "-i",
      image,
      "--set",
      "description=Ubuntu for the e2e test",
      "eula=https://example.com/eula",
    );
    assert.equal(updated.description, "Ubuntu for the e2e test");
    assert.equal(updated.eula, "https://example.com/eula");
    assert.equal(updated.provisioningState, "Succeeded");
    assert.equal(updated.osType, "Linux");
    assert.equal(updated.hyperVGeneration, "V1");
    assert.deepEqual(updated.identifier, { publisher: "pub1", offer: "offer1", sku: "sku1" });
  });

  test(
    "delete: a gallery with a definition refuses, then goes once it is empty",
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      await azFails("CannotDeleteResource", "sig", "delete", "-g", rg, "-r", gallery);

      await az("sig", "image-definition", "delete", "-g", rg, "-r", gallery, "-i", image);
      const missing = await azFails(
        "ResourceNotFound",
        "sig",
        "image-definition",
        "show",
        "-g",
        rg,
        "-r",
        gallery,
        "-i",
        image,
      );
      assert.match(missing, new RegExp(image));
      assert.deepEqual(await az("sig", "image-definition", "list", "-g", rg, "-r", gallery), []);

      // No waiting: the gallery can go as soon as its last definition is gone.
      await az("sig", "delete", "-g", rg, "-r", gallery);
      await azFails("ResourceNotFound", "sig", "show", "-g", rg, "-r", gallery);
      assert.deepEqual(await az("sig", "list", "-g", rg), []);
    },
  );

  describe("image bytes: disks, snapshots, image versions, deployment", () => {
    const rgImg = "rg-az-images";
    const galImg = "galAzImages";
    const def = "img-from-snapshot";
    // Azure's smallest upload (20 MiB + the footer) keeps the test fast.
    const vhd = makeVhd(20);
    let defId: string;
    let versionId: string;
    let snapshotId: string;
    let started: number;

    /** Grants `level` access to a disk with az; the SAS URL az prints. */
    const grant = async (name: string, level: "Read" | "Write") => {
      const access = await az(
        "disk",
        "grant-access",
        "-g",
        rgImg,
        "-n",
        name,
        "--access-level",
        level,
        "--duration-in-seconds",
        "3600",
      );
      assert.match(access.accessSas, /^https:\/\/localhost:\d+\/md-[0-9a-f]+\/[0-9a-f]+\/abcd\?/);
      return access.accessSas as string;
    };

    test(
      "a disk created for upload, written through its access URL, then snapshotted",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        started = Date.now();
        await az("group", "create", "-n", rgImg, "-l", "eastus");
        const disk = await az(
          "disk",
          "create",
          "-g",
          rgImg,
          "-n",
          "uploaded",
          "--upload-type",
          "Upload",
          "--upload-size-bytes",
          String(vhd.length),
          "--sku",
          "Standard_LRS",
        );
        assert.equal(disk.provisioningState, "Succeeded");
        assert.equal(disk.diskState, "ReadyToUpload");
        assert.equal(disk.creationData.createOption, "Upload");
        assert.equal(disk.creationData.uploadSizeBytes, vhd.length);
        assert.equal(disk.location, "eastus");
        assert.equal(disk.sku.name, "Standard_LRS");

        const blob = new PageBlobClient(
          await grant("uploaded", "Write"),
          new AnonymousCredential(),
        );
        for (let at = 0; at < vhd.length; at += 4 * MIB) {
          const piece = vhd.subarray(at, Math.min(vhd.length, at + 4 * MIB));
          if (piece.some((b) => b !== 0)) await blob.uploadPages(piece, at, piece.length);
        }
        await az("disk", "revoke-access", "-g", rgImg, "-n", "uploaded");
        const sealed = await az("disk", "show", "-g", rgImg, "-n", "uploaded");
        assert.equal(sealed.diskState, "Unattached");
        assert.equal(sealed.diskSizeBytes, vhd.length - 512);

        const snapshot = await az(
          "snapshot",
          "create",
          "-g",
          rgImg,
          "-n",
          "snap1",
          "--source",
          "uploaded",
        );
        snapshotId = snapshot.id;
        assert.equal(
          snapshotId,
          `/subscriptions/${sub}/resourceGroups/${rgImg}/providers/Microsoft.Compute/snapshots/snap1`,
        );
        assert.equal(snapshot.provisioningState, "Succeeded");
        assert.equal(snapshot.creationData.createOption, "Copy");
        assert.equal(snapshot.creationData.sourceResourceId, sealed.id);
        assert.equal(snapshot.creationData.sourceUniqueId, sealed.uniqueId);
        assert.equal(snapshot.diskSizeBytes, vhd.length - 512);
      },
    );

    test(
      "an image version from the snapshot, replicated to two regions; managed images refused",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await az("sig", "create", "-g", rgImg, "-r", galImg);
        const definition = await az(
          "sig",
          "image-definition",
          "create",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
          "--os-type",
          "linux",
          "-p",
          "pub2",
          "-f",
          "offer2",
          "-s",
          "sku2",
        );
        defId = definition.id;
        versionId = `${defId}/versions/1.0.0`;

        const created = await az(
          "sig",
          "image-version",
          "create",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
          "-e",
          "1.0.0",
          "--os-snapshot",
          snapshotId,
          "--target-regions",
          "eastus=2",
          "westus",
        );
        // az waited for the operation: replication is complete when it prints.
        assert.equal(created.id, versionId);
        assert.equal(created.provisioningState, "Succeeded");
        assert.equal(created.location, "eastus");
        const profile = created.publishingProfile;
        assert.deepEqual(
          profile.targetRegions.map((r: any) => [
            r.name,
            r.regionalReplicaCount,
            r.storageAccountType,
            r.excludeFromLatest,
          ]),
          [
            ["East US", 2, "Standard_LRS", null],
            ["West US", 1, "Standard_LRS", null],
          ],
        );
        assert.equal(profile.replicaCount, 1);
        assert.equal(profile.excludeFromLatest, false);
        assert.equal(profile.storageAccountType, "Standard_LRS");
        assert.ok(!Number.isNaN(Date.parse(profile.publishedDate)));
        assert.equal(created.safetyProfile.allowDeletionOfReplicatedLocations, false);
        assert.equal(created.safetyProfile.reportedForPolicyViolation, false);
        const os = created.storageProfile.osDiskImage;
        assert.equal(os.source.id, snapshotId);
        assert.equal(os.hostCaching, "ReadWrite");
        assert.equal(os.sizeInGb, 1);
        assert.equal(created.storageProfile.source, null);

        const status = await az(
          "sig",
          "image-version",
          "show",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
          "-e",
          "1.0.0",
          "--expand",
          "ReplicationStatus",
        );
        assert.deepEqual(status.replicationStatus, {
          aggregatedState: "Completed",
          summary: [
            { region: "East US", state: "Completed", details: "", progress: 100 },
            { region: "West US", state: "Completed", details: "", progress: 100 },
          ],
        });

        // We host no managed images: az prints an error that says so and names the property.
        const image = `/subscriptions/${sub}/resourceGroups/${rgImg}/providers/Microsoft.Compute/images/captured`;
        const refused = await azFails(
          "InvalidParameter",
          "sig",
          "image-version",
          "create",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
          "-e",
          "1.0.1",
          "--managed-image",
          image,
        );
        assert.match(
          refused,
          /is a managed image \(Microsoft\.Compute\/images\), which this server does not host/,
        );
        assert.match(refused, /Target: properties\.storageProfile\.source\.id/);
      },
    );

    test(
      "an image version gains a region by update and is listed",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const updated = await az(
          "sig",
          "image-version",
          "update",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
          "-e",
          "1.0.0",
          "--add",
          "publishingProfile.targetRegions",
          "name=westeurope",
        );
        assert.equal(updated.provisioningState, "Succeeded");
        assert.deepEqual(
          updated.publishingProfile.targetRegions.map((r: any) => [r.name, r.regionalReplicaCount]),
          [
            ["East US", 2],
            ["West US", 1],
            ["West Europe", 1],
          ],
        );
        const listed = (await az(
          "sig",
          "image-version",
          "list",
          "-g",
          rgImg,
          "-r",
          galImg,
          "-i",
          def,
        )) as any[];
        assert.deepEqual(
          listed.map((v) => [v.id, v.provisioningState, v.publishingProfile.targetRegions.length]),
          [[versionId, "Succeeded", 3]],
        );
      },
    );

    test(
      "disks from the image, by version and by definition (latest), read back byte for byte",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const deploy = (name: string, region: string, reference: string) =>
          az(
            "disk",
            "create",
            "-g",
            rgImg,
            "-n",
            name,
            "-l",
            region,
            "--gallery-image-reference",
            reference,
          );
        const byVersion = await deploy("from-version-westus", "westus", versionId);
        assert.equal(byVersion.location, "westus");
        assert.equal(byVersion.provisioningState, "Succeeded");
        assert.equal(byVersion.diskState, "Unattached");
        assert.equal(byVersion.creationData.createOption, "FromImage");
        assert.equal(byVersion.creationData.galleryImageReference.id, versionId);
        assert.equal(byVersion.diskSizeBytes, vhd.length - 512);
        assert.equal(byVersion.osType, "Linux");
        const byLatest = await deploy("from-latest-eastus", "eastus", defId);
        assert.equal(byLatest.location, "eastus");
        assert.equal(byLatest.creationData.galleryImageReference.id, defId);
        assert.equal(byLatest.diskSizeBytes, vhd.length - 512);

        for (const name of ["from-version-westus", "from-latest-eastus"]) {
          const blob = new PageBlobClient(await grant(name, "Read"), new AnonymousCredential());
          const bytes = await blob.downloadToBuffer();
          assert.ok(bytes.equals(vhd), `${name}: the bytes read back differ from the upload`);
          await az("disk", "revoke-access", "-g", rgImg, "-n", name);
        }

        // Larger than the image, then grown again: the image's bytes, zeros, a footer of the size.
        const larger = await az(
          "disk",
          "create",
          "-g",
          rgImg,
          "-n",
          "larger",
          "-l",
          "eastus",
          "--gallery-image-reference",
          versionId,
          "--size-gb",
          "2",
        );
        assert.equal(larger.diskSizeGb, 2);
        const grown = await az("disk", "update", "-g", rgImg, "-n", "larger", "--size-gb", "3");
        assert.equal(grown.diskSizeBytes, 3 * 1024 ** 3);
        const blob = new PageBlobClient(await grant("larger", "Read"), new AnonymousCredential());
        const head = await blob.downloadToBuffer(0, vhd.length - 512);
        const footer = parseVhdFooter(await blob.downloadToBuffer(3 * 1024 ** 3, 512));
        await az("disk", "revoke-access", "-g", rgImg, "-n", "larger");
        assert.ok(head.equals(vhd.subarray(0, vhd.length - 512)), "the image's bytes first");
        assert.equal(footer.currentSize, 3 * 1024 ** 3);

        // Not replicated to australiacentral: refused as Azure refuses it.
        const missing = await azFails(
          "GalleryImageNotFound",
          "disk",
          "create",
          "-g",
          rgImg,
          "-n",
          "nowhere",
          "-l",
          "australiacentral",
          "--gallery-image-reference",
          versionId,
        );
        assert.match(missing, /is not available in australiacentral region/);
      },
    );

    test("an image version is deleted", { timeout: TEST_TIMEOUT_MS }, async (tt) => {
      await az(
        "sig",
        "image-version",
        "delete",
        "-g",
        rgImg,
        "-r",
        galImg,
        "-i",
        def,
        "-e",
        "1.0.0",
      );
      await azFails(
        "ResourceNotFound",
        "sig",
        "image-version",
        "show",
        "-g",
        rgImg,
        "-r",
        galImg,
        "-i",
        def,
        "-e",
        "1.0.0",
      );
      assert.deepEqual(
        await az("sig", "image-version", "list", "-g", rgImg, "-r", galImg, "-i", def),
        [],
      );
      // Disks deployed from it keep their bytes (they hold their own reference to the content).
      const blob = new PageBlobClient(
        await grant("from-version-westus", "Read"),
        new AnonymousCredential(),
      );
      assert.ok((await blob.downloadToBuffer()).equals(vhd));
      await az("disk", "revoke-access", "-g", rgImg, "-n", "from-version-westus");

      // Every poll was answered with Retry-After: 1, so az never sat out its default 30 s: the
      // scenario's time is az's own start-up, call after call.
      const mine = calls.filter((c) => c.startedAt >= started);
      const slowest = mine.reduce((a, b) => (b.ms > a.ms ? b : a));
      const seconds = (Date.now() - started) / 1000;
      tt.diagnostic(
        `image bytes with az: ${seconds.toFixed(1)} s for ${mine.length} az calls; slowest ${(slowest.ms / 1000).toFixed(1)} s (az ${slowest.args.slice(0, 3).join(" ")})`,
      );
      assert.ok(
        slowest.ms < SLOWEST_CALL_MS,
        `az ${slowest.args.join(" ")} took ${slowest.ms} ms: did az wait out a poll interval?`,
      );
    });
  });
  test(
    "from a disk file to a deployed disk, as the README walks it (ocg disk upload/download, az)",
    { timeout: 2 * TEST_TIMEOUT_MS },
    async () => {
      const g = "galWalk";
      const dir = tempDir("az-walk");
      // A raw disk of 21 MiB + 1000 bytes: padded to 22 MiB and given a footer by the upload.
      const raw = Buffer.alloc(21 * MIB + 1000);
      randomBytes(MIB).copy(raw, 3 * MIB);
      randomBytes(1000).copy(raw, 21 * MIB);
      writeFileSync(join(dir, "disk.raw"), raw);
      const cli = async (...args: string[]) => {
        const r = await ocg("disk", ...args, "--data-dir", t.dataDir);
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout);
      };

      const uploaded = await cli(
        ...["upload", "-g", rg, "-n", "walk-src", "-l", "eastus", "--file", join(dir, "disk.raw")],
        ...["--os-type", "Linux", "--hyper-v-generation", "V2"],
      );
      await az("sig", "create", "-g", rg, "-r", g);
      await az(
        ...["sig", "image-definition", "create", "-g", rg, "-r", g, "-i", "walk"],
        ...["--os-type", "linux", "-p", "p", "-f", "f", "-s", "s", "--hyper-v-generation", "V2"],
      );
      const diskId = (await az("disk", "show", "-g", rg, "-n", "walk-src")).id;
      assert.equal(diskId, uploaded.id);
      const version = await az(
        ...["sig", "image-version", "create", "-g", rg, "-r", g, "-i", "walk", "-e", "1.0.0"],
        ...["--os-snapshot", diskId, "--target-regions", "eastus", "westus"],
      );
      assert.equal(version.provisioningState, "Succeeded");
      assert.equal(version.storageProfile.osDiskImage.source.id, diskId);
      const status = await az(
        ...["sig", "image-version", "show", "-g", rg, "-r", g, "-i", "walk", "-e", "1.0.0"],
        ...["--expand", "ReplicationStatus"],
      );
      assert.equal(status.replicationStatus.aggregatedState, "Completed");
      assert.deepEqual(
        status.replicationStatus.summary.map((r: any) => [r.region, r.state]).sort(),
        [
          ["East US", "Completed"],
          ["West US", "Completed"],
        ],
      );
      const deployed = await az(
        ...["disk", "create", "-g", rg, "-n", "walk-deployed", "-l", "westus"],
        ...["--gallery-image-reference", version.id, "--hyper-v-generation", "V2"],
      );
      assert.equal(deployed.diskState, "Unattached");
      assert.equal(deployed.hyperVGeneration, "V2");

      const out = join(dir, "deployed.raw");
      await cli("download", "-g", rg, "-n", "walk-deployed", "--file", out, "--format", "raw");
      const padded = Buffer.concat([raw, Buffer.alloc(22 * MIB - raw.length)]);
      assert.ok(readFileSync(out).equals(padded), "the deployed disk is the uploaded file");
      rmSync(dir, { recursive: true, force: true });
    },
  );
});
