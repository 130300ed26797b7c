/**
 * Bad input on every write route (PUT/PATCH of resource groups, galleries, image definitions and
 * gallery applications): each case expects a 4xx ARM error with the right code that names the
 * offending property or parameter, and a store that looks exactly as it did before the request.
 * Requests go through test/helpers/verbatim.ts so that paths reach the server as written (`..`, `%2F`).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { send } from "../helpers/verbatim.js";

const API = "api-version=2025-03-03";
const RG_API = "api-version=2021-04-01";
const MB = 1024 * 1024;

let t: TestServer;
let token: string;
let sub: string;

/** Cases are built before the server exists: paths carry this placeholder for its subscription. */
const SUB = "{subscription}";
const real = (path: string) => path.replace(SUB, sub);

const rgPath = (name: string) => `/subscriptions/${SUB}/resourcegroups/${name}`;
const galPath = (name: string, rg = "rg1") =>
  `${rgPath(rg)}/providers/Microsoft.Compute/galleries/${name}`;
const imgPath = (name: string, gallery = "gal1", rg = "rg1") =>
  `${galPath(gallery, rg)}/images/${name}`;
const appPath = (name: string, gallery = "gal1", rg = "rg1") =>
  `${galPath(gallery, rg)}/applications/${name}`;

interface Kind {
  label: string;
  api: string;
  /** The path of a resource of this kind named `name`. */
  path(name: string): string;
  /** Name of the existing fixture (PATCH and replacing PUT go there). */
  existing: string;
  /** The path parameter naming it, as errors name it. */
  param: string;
  /** A body that would create a new resource of the kind. */
  validBody: Record<string, any>;
  /** A body that would replace the fixture without changing anything it may not change. */
  existingBody: Record<string, any>;
  invalidNameCode: string;
}

const KINDS: Kind[] = [
  {
    label: "resource group",
    api: RG_API,
    path: rgPath,
    existing: "rg1",
    param: "resourceGroupName",
    validBody: { location: "eastus" },
    existingBody: { location: "eastus" },
    invalidNameCode: "InvalidResourceGroupName",
  },
  {
    label: "gallery",
    api: API,
    path: (n) => galPath(n),
    existing: "gal1",
    param: "galleryName",
    validBody: { location: "eastus", properties: { description: "d" } },
    existingBody: { location: "eastus", properties: { description: "d" } },
    invalidNameCode: "InvalidParameter",
  },
  {
    label: "image definition",
    api: API,
    path: (n) => imgPath(n),
    existing: "img1",
    param: "galleryImageName",
    validBody: {
      location: "eastus",
      properties: {
        osType: "Linux",
        osState: "Generalized",
        identifier: { publisher: "pub", offer: "off", sku: "other" },
      },
    },
    existingBody: {
      location: "eastus",
      properties: {
        osType: "Linux",
        osState: "Generalized",
        identifier: { publisher: "pub", offer: "off", sku: "sku" },
      },
    },
    invalidNameCode: "InvalidParameter",
  },
  {
    label: "application",
    api: API,
    path: (n) => appPath(n),
    existing: "app1",
    param: "galleryApplicationName",
    validBody: { location: "eastus", properties: { supportedOSType: "Linux" } },
    existingBody: { location: "eastus", properties: { supportedOSType: "Linux" } },
    invalidNameCode: "InvalidParameter",
  },
];

const kind = (label: string) => KINDS.find((k) => k.label === label)!;

/** Everything a client can see of the store: every list, including tags and properties. */
async function snapshot() {
  const paths = [
    `/subscriptions/${sub}/resourcegroups?${RG_API}`,
    `/subscriptions/${sub}/providers/Microsoft.Compute/galleries?${API}`,
    `${galPath("gal1")}/images?${API}`,
    `${galPath("gal1")}/applications?${API}`,
  ];
  const answers = await Promise.all(paths.map((p) => send(t, token, "GET", real(p))));
  for (const a of answers) assert.equal(a.status, 200, a.text);
  return answers.map((a) => a.json);
}

interface Case {
  title: string;
  method: "PUT" | "PATCH";
  /** Full path including the query string. */
  path: string;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** The exact `error.target`. */
  target?: string;
  /** Text the message must contain (when the error has no target, or in addition). */
  mentions?: string;
  /** A path (with query) that must still answer 404 afterwards: nothing was created. */
  absent?: string;
}

/** The store as the fixtures left it; refused requests must not change it. */
let baseline: Awaited<ReturnType<typeof snapshot>>;

async function expectRefused(c: Case) {
  const res = await send(t, token, c.method, real(c.path), c);
  const now = await snapshot();
  const before = baseline;
  // one failure should not fail the cases after it: forget what a wrongly accepted PUT created
  baseline = now;
  if (res.status === 201 && c.absent) {
    await send(t, token, "DELETE", real(c.absent));
    baseline = await snapshot();
  }
  assert.equal(res.status, c.status, res.text);
  const error = res.json?.error;
  assert.ok(error, `ARM error envelope expected: ${res.text}`);
  assert.equal(error.code, c.code, res.text);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length > 0);
  if (c.target !== undefined) assert.equal(error.target, c.target, res.text);
  if (c.mentions !== undefined) {
    assert.ok(
      error.message.includes(c.mentions) || error.target === c.mentions,
      `'${c.mentions}' expected in ${res.text}`,
    );
  }
  assert.ok(c.target !== undefined || c.mentions !== undefined, "a case names what it blames");
  assert.deepEqual(now, before, "the store changed");
  if (c.absent) {
    const get = await send(t, token, "GET", real(c.absent));
    assert.equal(get.status, 404, `${c.absent}: ${get.text}`);
  }
}

const cases: Case[] = [];

type Write = Pick<Case, "method" | "path" | "absent">;
type Input = Pick<Case, "body" | "rawBody" | "headers">;
/** status, ARM code, exact target, text the message must contain */
type Expect = [status: number, code: string, target?: string, mentions?: string];

function refuse(w: Write, title: string, input: Input, [status, code, target, mentions]: Expect) {
  cases.push({ ...w, ...input, title, status, code, target, mentions });
}

/** JSON of the wrong type for the property. */
const wrongType = (target: string): Expect => [400, "InvalidRequestContent", target];
/** A value the property does not take, or a required one missing. */
const invalid = (target: string, mentions?: string): Expect => [
  400,
  "InvalidParameter",
  target,
  mentions,
];

/** A PUT that would create `fresh1`, a PUT over the fixture, and a PATCH of the fixture. */
function writes(k: Kind) {
  const fixture = `${k.path(k.existing)}?${k.api}`;
  return [
    {
      on: `${k.label} PUT (create)`,
      base: k.validBody,
      w: {
        method: "PUT",
        path: `${k.path("fresh1")}?${k.api}`,
        absent: `${k.path("fresh1")}?${k.api}`,
      } as Write,
    },
    {
      on: `${k.label} PUT (replace)`,
      base: k.existingBody,
      w: { method: "PUT", path: fixture } as Write,
    },
    {
      on: `${k.label} PATCH`,
      base: {} as Record<string, any>,
      w: { method: "PATCH", path: fixture } as Write,
    },
  ];
}

function envelopeCases() {
  for (const k of KINDS) {
    for (const { on, base, w } of writes(k)) {
      const put = w.method === "PUT";
      refuse(w, `${on}: malformed JSON`, { rawBody: '{"location": "eastus",' }, wrongType("body"));
      refuse(w, `${on}: an empty body`, { rawBody: "" }, wrongType("body"));
      for (const body of [[], "x", null, 5]) {
        refuse(w, `${on}: the body is ${JSON.stringify(body)}`, { body }, wrongType("body"));
      }
      refuse(
        w,
        `${on}: a body over 4 MB`,
        { body: { ...base, tags: { big: "x".repeat(4 * MB) } } },
        [413, "RequestContentTooLarge", "body"],
      );
      for (const type of [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
      ]) {
        refuse(
          w,
          `${on}: content-type ${type}`,
          { rawBody: JSON.stringify(base), headers: { "content-type": type } },
          [415, "UnsupportedMediaType", "Content-Type"],
        );
      }

      // tags
      refuse(w, `${on}: tags: "x"`, { body: { ...base, tags: "x" } }, wrongType("tags"));
      refuse(w, `${on}: tags: []`, { body: { ...base, tags: [] } }, wrongType("tags"));
      refuse(
        w,
        `${on}: a tag value that is a number`,
        { body: { ...base, tags: { a: 5 } } },
        wrongType("tags.a"),
      );
      refuse(
        w,
        `${on}: a non-string tag value under a name with U+2028`,
        { body: { ...base, tags: { "a\u2028b": 5 } } },
        wrongType("tags.a\u2028b"),
      );
      refuse(w, `${on}: a tag name with '<'`, { body: { ...base, tags: { "a<b": "v" } } }, [
        400,
        "InvalidTagNameCharacters",
        "tags.a<b",
      ]);
      refuse(
        w,
        `${on}: a tag name with a control character`,
        { body: { ...base, tags: { "a\u0001": "v" } } },
        [400, "InvalidTagNameCharacters", "tags.a\u0001"],
      );
      const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`t${i}`, "v"]));
      refuse(w, `${on}: 51 tags`, { body: { ...base, tags: many } }, [
        400,
        "InvalidTagCount",
        "tags",
      ]);
      refuse(
        w,
        `${on}: a tag value of 257 characters`,
        { body: { ...base, tags: { long: "v".repeat(257) } } },
        invalid("tags.long"),
      );

      // properties and location (a group's PATCH takes tags only and ignores the rest, as Azure)
      if (put || k.label !== "resource group") {
        refuse(
          w,
          `${on}: properties: 5`,
          { body: { ...base, properties: 5 } },
          wrongType("properties"),
        );
        refuse(
          w,
          `${on}: properties: []`,
          { body: { ...base, properties: [] } },
          wrongType("properties"),
        );
      }
      if (put) {
        refuse(
          w,
          `${on}: no location`,
          { body: { ...base, location: undefined } },
          invalid("location"),
        );
        refuse(w, `${on}: location: 5`, { body: { ...base, location: 5 } }, wrongType("location"));
        refuse(w, `${on}: an unknown location`, { body: { ...base, location: "atlantis" } }, [
          400,
          "LocationNotAvailableForResourceType",
          "location",
          "atlantis",
        ]);
      }

      // api-version and subscription, checked before the body
      const bare = w.path!.split("?")[0]!;
      const body = { body: put ? base : { tags: {} } };
      const at = (path: string) => ({ ...w, path });
      refuse(at(bare), `${on}: no api-version`, body, [
        400,
        "MissingApiVersionParameter",
        "api-version",
      ]);
      refuse(at(`${bare}?api-version=`), `${on}: an empty api-version`, body, [
        400,
        "MissingApiVersionParameter",
        "api-version",
      ]);
      refuse(at(`${bare}?api-version=yesterday`), `${on}: a malformed api-version`, body, [
        400,
        "InvalidApiVersionParameter",
        "api-version",
        "yesterday",
      ]);
      const unknownCode =
        k.label === "resource group" ? "InvalidApiVersionParameter" : "NoRegisteredProviderFound";
      refuse(at(`${bare}?api-version=2099-01-01`), `${on}: an unknown api-version`, body, [
        400,
        unknownCode,
        "api-version",
        "2099-01-01",
      ]);
      const otherSub = "00000000-0000-4000-8000-000000000000";
      refuse(
        at(w.path!.replace(SUB, otherSub)),
        `${on}: a subscription that does not exist`,
        body,
        [404, "SubscriptionNotFound", "subscriptionId", otherSub],
      );
      refuse(at(w.path!.replace(SUB, "not-a-guid")), `${on}: a malformed subscription id`, body, [
        400,
        "InvalidSubscriptionId",
        "subscriptionId",
        "not-a-guid",
      ]);
    }
  }
}

/** Each kind's own properties: wrong types, unknown enum values, missing required ones. */
function propertyCases() {
  const withProps = (base: Record<string, any>, p: Record<string, unknown>) => ({
    ...base,
    properties: { ...base.properties, ...p },
  });

  for (const { on, base, w } of writes(kind("image definition"))) {
    const props = (p: Record<string, unknown>) => ({ body: withProps(base, p) });
    refuse(w, `${on}: osType: 5`, props({ osType: 5 }), wrongType("properties.osType"));
    refuse(
      w,
      `${on}: identifier: []`,
      props({ identifier: [] }),
      wrongType("properties.identifier"),
    );
    refuse(
      w,
      `${on}: identifier.sku: 7`,
      props({ identifier: { publisher: "p", offer: "o", sku: 7 } }),
      wrongType("properties.identifier.sku"),
    );
    refuse(
      w,
      `${on}: osType Solaris`,
      props({ osType: "Solaris" }),
      invalid("properties.osType", "Solaris"),
    );
    refuse(
      w,
      `${on}: hyperVGeneration V3`,
      props({ hyperVGeneration: "V3" }),
      invalid("properties.hyperVGeneration", "V3"),
    );
    refuse(
      w,
      `${on}: osState Hibernated`,
      props({ osState: "Hibernated" }),
      invalid("properties.osState", "Hibernated"),
    );
    refuse(
      w,
      `${on}: architecture sparc`,
      props({ architecture: "sparc" }),
      invalid("properties.architecture", "sparc"),
    );
    refuse(
      w,
      `${on}: features[0].value: {}`,
      props({ features: [{ name: "f", value: {} }] }),
      wrongType("properties.features[0].value"),
    );
    refuse(
      w,
      `${on}: recommended.vCPUs.min: 2^40`,
      props({ recommended: { vCPUs: { min: 2 ** 40 } } }),
      invalid("properties.recommended.vCPUs.min"),
    );
    refuse(
      w,
      `${on}: recommended.memory.max: 1.5`,
      props({ recommended: { memory: { max: 1.5 } } }),
      wrongType("properties.recommended.memory.max"),
    );
    refuse(
      w,
      `${on}: endOfLifeDate in the past`,
      props({ endOfLifeDate: "2001-01-01T00:00:00Z" }),
      invalid("properties.endOfLifeDate"),
    );
    refuse(
      w,
      `${on}: endOfLifeDate not a date`,
      props({ endOfLifeDate: "soon" }),
      invalid("properties.endOfLifeDate", "soon"),
    );
    if (w.method === "PUT") {
      const without = (key: string) => {
        const p: Record<string, unknown> = { ...base.properties };
        delete p[key];
        return { body: { ...base, properties: p } };
      };
      refuse(w, `${on}: no properties`, { body: { location: "eastus" } }, invalid("properties"));
      refuse(w, `${on}: no properties.osType`, without("osType"), invalid("properties.osType"));
      refuse(w, `${on}: no properties.osState`, without("osState"), invalid("properties.osState"));
      refuse(
        w,
        `${on}: no properties.identifier`,
        without("identifier"),
        invalid("properties.identifier"),
      );
      refuse(
        w,
        `${on}: no properties.identifier.sku`,
        props({ identifier: { publisher: "p", offer: "o" } }),
        invalid("properties.identifier.sku"),
      );
      refuse(
        w,
        `${on}: an empty properties.identifier.sku`,
        props({ identifier: { publisher: "p", offer: "o", sku: "" } }),
        invalid("properties.identifier.sku"),
      );
    }
  }

  for (const { on, base, w } of writes(kind("application"))) {
    const props = (p: Record<string, unknown>) => ({ body: withProps(base, p) });
    refuse(
      w,
      `${on}: supportedOSType Solaris`,
      props({ supportedOSType: "Solaris" }),
      invalid("properties.supportedOSType", "Solaris"),
    );
    refuse(
      w,
      `${on}: supportedOSType: true`,
      props({ supportedOSType: true }),
      wrongType("properties.supportedOSType"),
    );
    refuse(
      w,
      `${on}: customActions: {}`,
      props({ customActions: {} }),
      wrongType("properties.customActions"),
    );
    const blob = [{ name: "a", script: "s", parameters: [{ name: "p", type: "Blob" }] }];
    refuse(
      w,
      `${on}: a custom action parameter of type Blob`,
      props({ customActions: blob }),
      invalid("properties.customActions[0].parameters[0].type", "Blob"),
    );
    if (w.method === "PUT") {
      refuse(
        w,
        `${on}: no properties.supportedOSType`,
        { body: { location: "eastus", properties: { description: "d" } } },
        invalid("properties.supportedOSType"),
      );
      refuse(w, `${on}: no properties`, { body: { location: "eastus" } }, invalid("properties"));
    }
  }

  for (const { on, base, w } of writes(kind("gallery"))) {
    const props = (p: Record<string, unknown>) => ({ body: withProps(base, p) });
    refuse(
      w,
      `${on}: sharingProfile.permissions Public`,
      props({ sharingProfile: { permissions: "Public" } }),
      invalid("properties.sharingProfile.permissions", "Public"),
    );
    refuse(
      w,
      `${on}: identifier: []`,
      props({ identifier: [] }),
      wrongType("properties.identifier"),
    );
    refuse(
      w,
      `${on}: description: 5`,
      props({ description: 5 }),
      wrongType("properties.description"),
    );
    refuse(
      w,
      `${on}: softDeletePolicy.retentionPeriodInDays: -1`,
      props({ softDeletePolicy: { retentionPeriodInDays: -1 } }),
      invalid("properties.softDeletePolicy.retentionPeriodInDays"),
    );
    refuse(
      w,
      `${on}: a community gallery without its info`,
      props({ sharingProfile: { permissions: "Community" } }),
      invalid("properties.sharingProfile.communityGalleryInfo.publisherUri"),
    );
  }
}

/** Names in the path, %-encoded or not, against each kind's rule. */
function nameCases() {
  const common: [string, string][] = [
    ["..", ".."],
    ["%2E%2E", "%2E%2E"],
    ["an encoded slash", "a%2Fb"],
    ["NUL", "a%00b"],
    ["a line feed", "a%0Ab"],
    ["a space", "a%20b"],
    ["5000 characters", "a".repeat(5000)],
    ["a trailing '.'", "name."],
    ["an emoji", encodeURIComponent("n😀")],
    ["a '*'", "a*b"],
  ];
  // A group's name may lead with '_', end in '-' and hold unicode letters (see below).
  const groupOnly: [string, string][] = [["91 characters", "a".repeat(91)]];
  const galleryOnly: [string, string][] = [
    ["an encoded backslash", "a%5Cb"],
    ["81 characters", "a".repeat(81)],
    ["200 characters", "a".repeat(200)],
    ["a trailing '-'", "name-"],
    ["a leading '_'", "_name"],
    ["a leading '.'", ".name"],
    ["unicode letters", encodeURIComponent("gälléry")],
  ];
  for (const k of KINDS) {
    const group = k.label === "resource group";
    for (const [what, name] of [...common, ...(group ? groupOnly : galleryOnly)]) {
      const path = `${k.path(name)}?${k.api}`;
      refuse(
        { method: "PUT", path, absent: path },
        `${k.label} PUT: a name with ${what}`,
        { body: k.validBody },
        [400, k.invalidNameCode, k.param],
      );
      // PATCH finds nothing to update under a name no resource can have
      const notFound = group ? "ResourceGroupNotFound" : "ResourceNotFound";
      refuse(
        { method: "PATCH", path, absent: path },
        `${k.label} PATCH: a name with ${what}`,
        { body: { tags: {} } },
        [404, notFound, undefined, decodeURIComponent(name)],
      );
    }
    // A malformed %-escape never reaches a route: the router refuses it.
    const path = `${k.path("a%zzb")}?${k.api}`;
    refuse(
      { method: "PUT", path },
      `${k.label} PUT: a name with a malformed %-escape`,
      { body: k.validBody },
      [400, "BadRequest", undefined, "a%zzb"],
    );
  }
}

/** Parents that do not exist. */
function parentCases() {
  const noGroup = [
    ["gallery", galPath("gal9", "nogroup")],
    ["image definition", imgPath("x1", "gal1", "nogroup")],
    ["application", appPath("x1", "gal1", "nogroup")],
  ];
  for (const [label, path] of noGroup) {
    const k = kind(label!);
    for (const method of ["PUT", "PATCH"] as const) {
      const body = method === "PUT" ? k.validBody : { tags: {} };
      refuse(
        { method, path: `${path}?${API}` },
        `${label} ${method}: a resource group that does not exist`,
        { body },
        [404, "ResourceGroupNotFound", "resourceGroupName", "nogroup"],
      );
    }
  }
  const group = `${rgPath("nogroup")}?${RG_API}`;
  refuse(
    { method: "PATCH", path: group, absent: group },
    "resource group PATCH: a group that does not exist",
    { body: { tags: {} } },
    [404, "ResourceGroupNotFound", "resourceGroupName", "nogroup"],
  );
  const noGallery = [
    ["image definition", imgPath("x1", "nogallery")],
    ["application", appPath("x1", "nogallery")],
  ];
  for (const [label, path] of noGallery) {
    const k = kind(label!);
    for (const method of ["PUT", "PATCH"] as const) {
      const body = method === "PUT" ? k.validBody : { tags: {} };
      const absent = `${galPath("nogallery")}?${API}`;
      refuse(
        { method, path: `${path}?${API}`, absent },
        `${label} ${method}: a parent gallery that does not exist`,
        { body },
        [404, "ParentResourceNotFound", "galleryName", "nogallery"],
      );
    }
  }
}

before(async () => {
  t = await startTestServer();
  token = await t.token();
  sub = t.credentials.subscriptionId;
  const fixtures: [string, unknown][] = [
    [`${rgPath("rg1")}?${RG_API}`, { location: "eastus", tags: { env: "test" } }],
    [`${galPath("gal1")}?${API}`, { location: "eastus", tags: { team: "a" } }],
    [
      `${imgPath("img1")}?${API}`,
      {
        location: "eastus",
        properties: {
          osType: "Linux",
          osState: "Generalized",
          identifier: { publisher: "pub", offer: "off", sku: "sku" },
        },
      },
    ],
    [`${appPath("app1")}?${API}`, { location: "eastus", properties: { supportedOSType: "Linux" } }],
  ];
  for (const [path, body] of fixtures) {
    const res = await send(t, token, "PUT", real(path), { body });
    assert.equal(res.status, 201, res.text);
  }
  baseline = await snapshot();
});
after(() => t?.close());

envelopeCases();
propertyCases();
nameCases();
parentCases();

describe("refused writes", () => {
  for (const c of cases) test(c.title, () => expectRefused(c));
});

describe("accepted near misses", () => {
  test("enum values in other casing are accepted and stored in Azure's spelling", async () => {
    const path = `${real(imgPath("casing1"))}?${API}`;
    const created = await send(t, token, "PUT", path, {
      body: {
        location: "East US",
        properties: {
          osType: "linux",
          osState: "GENERALIZED",
          hyperVGeneration: "v2",
          architecture: "arm64",
          identifier: { publisher: "pub", offer: "off", sku: "casing" },
        },
      },
    });
    assert.equal(created.status, 201, created.text);
    const canonical = {
      osType: "Linux",
      osState: "Generalized",
      hyperVGeneration: "V2",
      architecture: "Arm64",
    };
    assert.equal(created.json!.location, "eastus");
    for (const answer of [created, await send(t, token, "GET", path)]) {
      for (const [key, value] of Object.entries(canonical)) {
        assert.equal(answer.json!.properties[key], value, `${key}: ${answer.text}`);
      }
    }
    // the same value in another casing is no change of an immutable property
    const patched = await send(t, token, "PATCH", path, {
      body: { properties: { osType: "LINUX", architecture: "ARM64" } },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json!.properties.osType, "Linux");
    assert.equal((await send(t, token, "DELETE", path)).status, 202);

    const gallery = `${real(galPath("casing2"))}?${API}`;
    const g = await send(t, token, "PUT", gallery, {
      body: { location: "eastus", properties: { sharingProfile: { permissions: "private" } } },
    });
    assert.equal(g.status, 201, g.text);
    assert.equal(g.json!.properties.sharingProfile.permissions, "Private");
    assert.equal((await send(t, token, "DELETE", gallery)).status, 202);

    const application = `${real(appPath("casing3"))}?${API}`;
    const a = await send(t, token, "PUT", application, {
      body: {
        location: "eastus",
        properties: {
          supportedOSType: "windows",
          customActions: [{ name: "a", script: "s", parameters: [{ name: "p", type: "string" }] }],
        },
      },
    });
    assert.equal(a.status, 201, a.text);
    assert.equal(a.json!.properties.supportedOSType, "Windows");
    assert.equal(a.json!.properties.customActions[0].parameters[0].type, "String");
    assert.equal((await send(t, token, "DELETE", application)).status, 200);
  });

  test("resource group names may lead with '_', end in '-' and hold unicode letters", async () => {
    for (const name of ["_rg", "rg-", "grüppe", "(rg)", "a".repeat(90)]) {
      const path = `${real(rgPath(encodeURIComponent(name)))}?${RG_API}`;
      const res = await send(t, token, "PUT", path, { body: { location: "eastus" } });
      assert.equal(res.status, 201, `${name}: ${res.text}`);
      assert.equal(res.json!.name, name);
      assert.equal((await send(t, token, "DELETE", path)).status, 202);
    }
  });
});

describe("--loose", () => {
  let loose: TestServer;
  let looseToken: string;
  before(async () => {
    loose = await startTestServer({ loose: true });
    looseToken = await loose.token();
  });
  after(() => loose?.close());

  test("accepts an unknown api-version, but still wants one", async () => {
    const s = loose.credentials.subscriptionId;
    const group = `/subscriptions/${s}/resourcegroups/rg1`;
    const gallery = `${group}/providers/Microsoft.Compute/galleries/gal1`;
    const image = `${gallery}/images/img1`;
    const unknown = "api-version=2099-01-01";
    const puts: [string, unknown][] = [
      [group, { location: "eastus" }],
      [gallery, { location: "eastus" }],
      [image, KINDS[2]!.validBody],
      [`${gallery}/applications/app1`, KINDS[3]!.validBody],
    ];
    for (const [path, body] of puts) {
      const res = await send(loose, looseToken, "PUT", `${path}?${unknown}`, { body });
      assert.equal(res.status, 201, `${path}: ${res.text}`);
    }
    const patched = await send(loose, looseToken, "PATCH", `${image}?${unknown}`, {
      body: { tags: { a: "b" } },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((await send(loose, looseToken, "GET", `${image}?${API}`)).status, 200);
    const missing = await send(loose, looseToken, "PUT", `${gallery}2`, {
      body: { location: "eastus" },
    });
    assert.equal(missing.status, 400, missing.text);
    assert.equal(missing.json!.error.code, "MissingApiVersionParameter");
    assert.equal(missing.json!.error.target, "api-version");
    assert.equal((await send(loose, looseToken, "GET", `${gallery}2?${API}`)).status, 404);
    const malformed = await send(loose, looseToken, "PUT", `${gallery}3?api-version=yesterday`, {
      body: { location: "eastus" },
    });
    assert.equal(malformed.status, 400, "--loose tolerates new versions, not text that isn't one");
    assert.equal(malformed.json!.error.code, "InvalidApiVersionParameter");
  });
});
