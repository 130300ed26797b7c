/**
 * Answers in the shape of the api-version asked for: properties that an older version's model
 * does not have (src/api/arm/version-shapes.ts) are left out for it, and kept for newer ones.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { shapeFor } from "../../src/api/arm/version-shapes.js";
import { call, startTestServer, type TestServer } from "../helpers/server.js";

describe("shapeFor", () => {
  const image = {
    description: "d",
    architecture: "Arm64",
    features: [
      { name: "SecurityType", value: "TrustedLaunchSupported", startsAtVersion: "1.0.0" },
      { name: "DiskControllerTypes", value: "SCSI" },
    ],
    allowUpdateImage: true,
    provisioningState: "Succeeded",
  };

  test("drops what the version does not know, nested and in arrays, keeping key order", () => {
    assert.deepEqual(shapeFor("galleries/images", "2021-07-01", image), {
      description: "d",
      features: [
        { name: "SecurityType", value: "TrustedLaunchSupported" },
        { name: "DiskControllerTypes", value: "SCSI" },
      ],
      provisioningState: "Succeeded",
    });
    assert.deepEqual(Object.keys(shapeFor("galleries/images", "2023-07-03", image)), [
      "description",
      "architecture",
      "features",
      "provisioningState",
    ]);
  });

  test("keeps everything from the first version that has it", () => {
    assert.equal(shapeFor("galleries/images", "2024-03-03", image), image);
    assert.equal(shapeFor("galleries/images", "2026-03-03", image), image);
    const app = { supportedOSType: "Linux", customActions: [{ name: "a", script: "s" }] };
    assert.deepEqual(shapeFor("galleries/applications", "2022-01-03", app), {
      supportedOSType: "Linux",
    });
    assert.equal(shapeFor("galleries/applications", "2022-03-03", app), app);
  });

  test("gallery: community info, sharing status and soft-delete periods", () => {
    const gallery = {
      sharingProfile: { permissions: "Community", communityGalleryInfo: { eula: "e" } },
      softDeletePolicy: {
        isSoftDeleteEnabled: true,
        retentionPeriodInDays: 7,
        gracePeriodInDays: 1,
      },
      sharingStatus: { aggregatedState: "Succeeded" },
    };
    assert.deepEqual(shapeFor("galleries", "2021-07-01", gallery), {
      sharingProfile: { permissions: "Community" },
      softDeletePolicy: { isSoftDeleteEnabled: true },
    });
    assert.deepEqual(shapeFor("galleries", "2025-12-03", gallery), {
      ...gallery,
      softDeletePolicy: { isSoftDeleteEnabled: true },
    });
    assert.equal(shapeFor("galleries", "2026-03-03", gallery), gallery);
  });

  test("never changes its input; unknown kinds and odd values pass through", () => {
    const snapshot = structuredClone(image);
    shapeFor("galleries/images", "2021-07-01", image);
    assert.deepEqual(image, snapshot);
    assert.equal(shapeFor("galleries/images/versions", "2021-07-01", image), image);
    const odd = { features: "not a list", architecture: undefined };
    assert.deepEqual(shapeFor("galleries/images", "2021-07-01", odd), { features: "not a list" });
    const none = { description: "d" };
    assert.equal(shapeFor("galleries/images", "2021-07-01", none), none);
  });
});

describe("responses by api-version", () => {
  let t: TestServer;
  let sub: string;
  const rg = "shape-tests";
  const galleries = () =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries`;
  const get = async (path: string, version: string) => {
    const res = await call(t, "GET", `${path}?api-version=${version}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };
  const put = async (path: string, version: string, body: unknown) => {
    const res = await call(t, "PUT", `${path}?api-version=${version}`, { body });
    assert.equal(res.status, 201, res.text);
    return res.json;
  };

  before(async () => {
    t = await startTestServer();
    sub = t.credentials.subscriptionId;
    await t.resources.resourceGroups.createOrUpdate(rg, { location: "eastus" });
  });
  after(() => t.close());

  test("gallery: communityGalleryInfo from 2021-10-01, soft-delete periods from 2026-03-03", async () => {
    const path = `${galleries()}/shapes`;
    await put(path, "2026-03-03", {
      location: "eastus",
      properties: {
        sharingProfile: {
          permissions: "Community",
          communityGalleryInfo: {
            publisherUri: "https://example.com",
            publisherContact: "a@example.com",
            eula: "eula",
            publicNamePrefix: "shape",
          },
        },
        softDeletePolicy: {
          isSoftDeleteEnabled: true,
          retentionPeriodInDays: 7,
          gracePeriodInDays: 2,
        },
      },
    });

    const old = await get(path, "2021-07-01");
    assert.deepEqual(old.properties.sharingProfile, { permissions: "Community" });
    assert.deepEqual(old.properties.softDeletePolicy, { isSoftDeleteEnabled: true });

    const mid = await get(path, "2025-12-03");
    assert.equal(mid.properties.sharingProfile.communityGalleryInfo.eula, "eula");
    assert.deepEqual(mid.properties.softDeletePolicy, { isSoftDeleteEnabled: true });

    const now = await get(path, "2026-03-03");
    assert.equal(now.properties.sharingProfile.communityGalleryInfo.publicNamePrefix, "shape");
    assert.deepEqual(now.properties.softDeletePolicy, {
      isSoftDeleteEnabled: true,
      retentionPeriodInDays: 7,
      gracePeriodInDays: 2,
    });

    for (const list of [
      await get(galleries(), "2021-07-01"),
      await get(`/subscriptions/${sub}/providers/Microsoft.Compute/galleries`, "2021-07-01"),
    ]) {
      const mine = list.value.find((g: any) => g.name === "shapes");
      assert.deepEqual(mine.properties.softDeletePolicy, { isSoftDeleteEnabled: true });
      assert.equal("communityGalleryInfo" in mine.properties.sharingProfile, false);
    }
  });

  test("image definition: architecture from 2021-10-01, allowUpdateImage and startsAtVersion from 2024-03-03", async () => {
    await put(`${galleries()}/images`, "2026-03-03", { location: "eastus" });
    const path = `${galleries()}/images/images/arm`;
    const created = await put(path, "2026-03-03", {
      location: "eastus",
      properties: {
        osType: "Linux",
        osState: "Generalized",
        hyperVGeneration: "V2",
        architecture: "Arm64",
        identifier: { publisher: "contoso", offer: "ubuntu", sku: "arm" },
        features: [{ name: "DiskControllerTypes", value: "SCSI, NVMe", startsAtVersion: "1.0.0" }],
        allowUpdateImage: true,
      },
    });
    assert.equal(created.properties.allowUpdateImage, true);

    const old = await get(path, "2021-07-01");
    assert.equal("architecture" in old.properties, false);
    assert.equal("allowUpdateImage" in old.properties, false);
    assert.deepEqual(old.properties.features, [
      { name: "DiskControllerTypes", value: "SCSI, NVMe" },
    ]);
    assert.equal(old.properties.hyperVGeneration, "V2");

    const v2023 = await get(path, "2023-07-03");
    assert.equal(v2023.properties.architecture, "Arm64");
    assert.equal("allowUpdateImage" in v2023.properties, false);
    assert.equal("startsAtVersion" in v2023.properties.features[0], false);

    for (const version of ["2024-03-03", "2026-03-03"]) {
      const now = await get(path, version);
      assert.equal(now.properties.architecture, "Arm64");
      assert.equal(now.properties.allowUpdateImage, true);
      assert.equal(now.properties.features[0].startsAtVersion, "1.0.0");
    }

    const list = await get(`${galleries()}/images/images`, "2021-10-01");
    const mine = list.value.find((i: any) => i.name === "arm");
    assert.equal(mine.properties.architecture, "Arm64");
    assert.equal("allowUpdateImage" in mine.properties, false);
  });

  test("application: customActions from 2022-03-03, also in PUT and PATCH answers", async () => {
    await put(`${galleries()}/apps`, "2026-03-03", { location: "eastus" });
    const path = `${galleries()}/apps/applications/app`;
    const customActions = [
      {
        name: "reset",
        script: "reset.sh",
        parameters: [{ name: "level", required: false, type: "String", defaultValue: "soft" }],
      },
    ];
    const created = await put(path, "2022-01-03", {
      location: "eastus",
      properties: { supportedOSType: "Linux", customActions },
    });
    assert.deepEqual(created.properties, { supportedOSType: "Linux" });

    const patched = await call(t, "PATCH", `${path}?api-version=2021-10-01`, {
      body: { properties: { description: "d" } },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json.properties, { supportedOSType: "Linux", description: "d" });

    assert.equal("customActions" in (await get(path, "2022-01-03")).properties, false);
    assert.deepEqual((await get(path, "2022-03-03")).properties.customActions, customActions);
    assert.deepEqual((await get(path, "2026-03-03")).properties.customActions, customActions);
  });
});
