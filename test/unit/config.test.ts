/** Settings precedence (defaults < file < environment < flags) and refusal of bad settings. */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/config.js";
import { tempDir } from "../helpers/server.js";

test("defaults < file < environment < flags", () => {
  const dir = tempDir("config");
  const file = join(dir, "ocg.json");
  writeFileSync(
    file,
    JSON.stringify({
      port: 5000,
      host: "0.0.0.0",
      logLevel: "debug",
      limits: { galleriesPerRegion: 7 },
    }),
  );
  const defaults = loadConfig({}, {});
  assert.equal(defaults.port, 4443);
  assert.equal(defaults.host, "127.0.0.1");
  assert.equal(defaults.limits.imageDefinitionsPerRegion, 1000);
  assert.deepEqual(
    defaults.regions.map((r) => r.name),
    ["eastus", "westeurope", "westus", "australiacentral"],
  );
  const fromFile = loadConfig({ configFile: file }, {});
  assert.equal(fromFile.port, 5000);
  assert.equal(fromFile.limits.galleriesPerRegion, 7);
  assert.equal(
    fromFile.limits.imageVersionsPerRegion,
    10000,
    "a partial limits object keeps the other defaults",
  );
  const fromEnv = loadConfig({ configFile: file }, { OCG_PORT: "6000", OCG_LOOSE: "1" });
  assert.equal(fromEnv.port, 6000);
  assert.equal(fromEnv.host, "0.0.0.0");
  assert.equal(fromEnv.loose, true);
  const fromFlags = loadConfig(
    { configFile: file, port: 7000, limits: { galleriesPerRegion: 9 } },
    { OCG_PORT: "6000" },
  );
  assert.equal(fromFlags.port, 7000);
  assert.equal(fromFlags.limits.galleriesPerRegion, 9);
  assert.equal(fromFlags.logLevel, "debug");
});

test("a bad setting is refused, naming it", () => {
  assert.throws(
    () => loadConfig({}, { OCG_PORT: "70000" }),
    (e: Error) => e instanceof ConfigError && /'port'/.test(e.message),
  );
  assert.throws(() => loadConfig({ regions: [{ name: "East US" }] }, {}), /'regions\.0\.name'/);
  assert.throws(() => loadConfig({ logLevel: "loud" as never }, {}), /'logLevel'/);
  assert.throws(
    () => loadConfig({ configFile: "/nonexistent/ocg.json" }, {}),
    /cannot read config file/,
  );
  assert.throws(() => loadConfig({ unknownSetting: 1 } as never, {}), ConfigError);
});

test("regions: defaults with zones, a restricted region and a storage location per zone", () => {
  const c = loadConfig({ dataDir: "/srv/ocg" }, {});
  assert.deepEqual(c.regions, [
    {
      name: "eastus",
      zones: ["1", "2", "3"],
      restricted: false,
      storage: {
        1: "/srv/ocg/blobs/eastus-1",
        2: "/srv/ocg/blobs/eastus-2",
        3: "/srv/ocg/blobs/eastus-3",
      },
    },
    {
      name: "westeurope",
      zones: ["1", "2", "3"],
      restricted: false,
      storage: {
        1: "/srv/ocg/blobs/westeurope-1",
        2: "/srv/ocg/blobs/westeurope-2",
        3: "/srv/ocg/blobs/westeurope-3",
      },
    },
    { name: "westus", zones: [], restricted: false, storage: { default: "/srv/ocg/blobs/westus" } },
    {
      name: "australiacentral",
      zones: [],
      restricted: true,
      storage: { default: "/srv/ocg/blobs/australiacentral" },
    },
  ]);
});

test("regions from a file, then from OCG_REGIONS; storage per zone, relative to the data dir", () => {
  const dir = tempDir("config-regions");
  const file = join(dir, "ocg.json");
  writeFileSync(
    file,
    JSON.stringify({
      dataDir: dir,
      regions: [
        { name: "eastus", displayName: "East US", zones: ["1", "2"], storage: { 2: "/mnt/fast" } },
        { name: "westus", storage: { default: "cold/westus" } },
        { name: "northeurope" },
      ],
    }),
  );
  const fromFile = loadConfig({ configFile: file }, {});
  assert.deepEqual(fromFile.regions[0], {
    name: "eastus",
    displayName: "East US",
    zones: ["1", "2"],
    restricted: false,
    storage: { 1: join(dir, "blobs", "eastus-1"), 2: "/mnt/fast" },
  });
  assert.deepEqual(fromFile.regions[1]!.storage, { default: join(dir, "cold", "westus") });
  assert.equal(fromFile.regions[2]!.restricted, false, "the old shape ({name}) still works");

  const fromEnv = loadConfig(
    { configFile: file },
    { OCG_REGIONS: JSON.stringify([{ name: "swedencentral", zones: ["1"], restricted: true }]) },
  );
  assert.deepEqual(fromEnv.regions, [
    {
      name: "swedencentral",
      zones: ["1"],
      restricted: true,
      storage: { 1: join(dir, "blobs", "swedencentral-1") },
    },
  ]);
  const fromFlags = loadConfig(
    { configFile: file, regions: [{ name: "uksouth" }] },
    { OCG_REGIONS: "[]" },
  );
  assert.deepEqual(
    fromFlags.regions.map((r) => r.name),
    ["uksouth"],
  );
});

test("bad region settings are refused, naming the setting", () => {
  const bad = (regions: unknown, pattern: RegExp) =>
    assert.throws(
      () => loadConfig({ regions: regions as never }, {}),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
    );
  bad(
    [{ name: "eastus", zones: ["1"], storage: { 4: "/x" } }],
    /'regions\.0\.storage\.4'.*not one of eastus's zones/,
  );
  bad([{ name: "westus", storage: { 1: "/x" } }], /'regions\.0\.storage\.1'.*no zones.*'default'/);
  bad(
    [{ name: "eastus", zones: ["1", "2"], storage: { 1: "/same", 2: "/same" } }],
    /'regions\.0\.storage\.2'.*'eastus-2' would share the directory \/same with 'eastus-1'/,
  );
  bad([{ name: "eastus" }, { name: "eastus" }], /'regions\.1\.name'.*twice/);
  bad([{ name: "eastus", zones: ["1", "1"] }], /'regions\.0\.zones'/);
  bad([{ name: "eastus", zones: ["zone 1"] }], /'regions\.0\.zones\.0'/);
  bad([{ name: "eastus", restricted: "yes" }], /'regions\.0\.restricted'/);
  bad([], /'regions'/);
  assert.throws(
    () => loadConfig({}, { OCG_REGIONS: "{not json" }),
    (e: Error) => e instanceof ConfigError && /'regions'.*OCG_REGIONS/.test(e.message),
  );
});
