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
