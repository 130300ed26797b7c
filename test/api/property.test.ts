/**
 * Property test of every PUT and PATCH route (resource groups, galleries, image definitions,
 * gallery applications) with generated input: arbitrary JSON, mutations of valid bodies (dropped
 * keys, wrong types, random strings in enum fields, huge and negative numbers, nested garbage),
 * cut-off JSON, and generated names in the path (unicode, path-special characters, %-encoded or
 * not). Whatever comes in: never a 5xx, every 4xx is an ARM error with a code and a message, and a
 * refused request leaves every list exactly as it was.
 *
 * fast-check prints the seed and path of a failure; replay it with OCG_FC_SEED=<seed>
 * OCG_FC_PATH=<path>. OCG_FC_RUNS changes the number of runs per property.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { send, type Answer, type Send } from "../helpers/verbatim.js";

const API = "api-version=2025-03-03";
const RG_API = "api-version=2021-04-01";
const RUNS = Number(process.env.OCG_FC_RUNS ?? 100);
const replay =
  process.env.OCG_FC_SEED !== undefined
    ? { seed: Number(process.env.OCG_FC_SEED), path: process.env.OCG_FC_PATH }
    : {};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

let t: TestServer;
let token: string;
let sub: string;

// ---------------------------------------------------------------------------------------------
// Routes and the valid bodies the generators start from

const FUTURE = "2099-01-01T00:00:00Z";
const COMMUNITY = {
  permissions: "Community",
  communityGalleryInfo: {
    publisherUri: "https://example.com",
    publisherContact: "a@example.com",
    eula: "eula",
    publicNamePrefix: "abcde",
  },
};

function imageProperties(sku: string): Record<string, Json> {
  return {
    description: "d",
    eula: "e",
    privacyStatementUri: "https://example.com/privacy",
    releaseNoteUri: "https://example.com/notes",
    hyperVGeneration: "V2",
    architecture: "x64",
    osType: "Linux",
    osState: "Generalized",
    endOfLifeDate: FUTURE,
    identifier: { publisher: "pub", offer: "off", sku },
    recommended: { vCPUs: { min: 1, max: 4 }, memory: { min: 1, max: 8 } },
    disallowed: { diskTypes: ["Standard_LRS"] },
    purchasePlan: { name: "n", publisher: "p", product: "q" },
    features: [
      { name: "SecurityType", value: "TrustedLaunchSupported" },
      { name: "IsAcceleratedNetworkSupported", value: "true" },
    ],
    allowUpdateImage: true,
  };
}

const APPLICATION_PROPERTIES: Record<string, Json> = {
  description: "d",
  eula: "e",
  privacyStatementUri: "https://example.com/privacy",
  releaseNoteUri: "https://example.com/notes",
  endOfLifeDate: FUTURE,
  supportedOSType: "Linux",
  customActions: [
    {
      name: "install",
      script: "run.sh",
      description: "d",
      parameters: [
        { name: "p", required: true, type: "String", defaultValue: "v", description: "d" },
      ],
    },
  ],
};

interface Kind {
  label: string;
  api: string;
  /** Names from the resource group down to the resource, already encoded for the path. */
  path(names: string[]): string;
  fixture: string[];
  fresh: string[];
  /** Valid PUT bodies for a new resource and for replacing the fixture, and valid PATCH bodies. */
  create: Json[];
  replace: Json[];
  patch: Json[];
}

const rg = (n: string[]) => `/subscriptions/${sub}/resourcegroups/${n[0]}`;
const gallery = (n: string[]) => `${rg(n)}/providers/Microsoft.Compute/galleries/${n[1]}`;

const KINDS: Kind[] = [
  {
    label: "resource group",
    api: RG_API,
    path: rg,
    fixture: ["prg"],
    fresh: ["prgnew"],
    create: [
      {
        location: "eastus",
        tags: { env: "prop", "a b": "c" },
        managedBy: "/subscriptions/x/resourceGroups/y",
        properties: {},
      },
      { location: "East US" },
    ],
    replace: [{ location: "eastus", tags: { env: "prop" } }],
    patch: [{ tags: { env: "x", other: "" } }, { tags: {} }],
  },
  {
    label: "gallery",
    api: API,
    path: gallery,
    fixture: ["prg", "pgal"],
    fresh: ["prg", "pgalnew"],
    create: [
      {
        location: "eastus",
        tags: { env: "prop" },
        properties: {
          description: "d",
          sharingProfile: { permissions: "Private" },
          softDeletePolicy: { isSoftDeleteEnabled: true, retentionPeriodInDays: 7 },
        },
      },
      { location: "eastus", properties: { sharingProfile: COMMUNITY } },
    ],
    replace: [{ location: "eastus", tags: { env: "prop" }, properties: { description: "d" } }],
    patch: [
      { tags: { env: "x" }, properties: { description: "e" } },
      { properties: { sharingProfile: COMMUNITY } },
    ],
  },
  {
    label: "image definition",
    api: API,
    path: (n) => `${gallery(n)}/images/${n[2]}`,
    fixture: ["prg", "pgal", "pimg"],
    fresh: ["prg", "pgal", "pimgnew"],
    create: [{ location: "eastus", tags: { env: "prop" }, properties: imageProperties("new") }],
    replace: [{ location: "eastus", properties: imageProperties("sku") }],
    patch: [{ tags: { env: "x" }, properties: imageProperties("sku") }, { properties: {} }],
  },
  {
    label: "application",
    api: API,
    path: (n) => `${gallery(n)}/applications/${n[2]}`,
    fixture: ["prg", "pgal", "papp"],
    fresh: ["prg", "pgal", "pappnew"],
    create: [{ location: "eastus", tags: { env: "prop" }, properties: APPLICATION_PROPERTIES }],
    replace: [{ location: "eastus", properties: APPLICATION_PROPERTIES }],
    patch: [{ tags: { env: "x" }, properties: { description: "e", supportedOSType: "linux" } }],
  },
];

// ---------------------------------------------------------------------------------------------
// Generators

const ENUM_VALUES = [
  "Windows",
  "Linux",
  "V1",
  "V2",
  "x64",
  "Arm64",
  "Generalized",
  "Specialized",
  "Private",
  "Groups",
  "Community",
  "String",
  "ConfigurationDataBlob",
  "LogOutputBlob",
];

/** A valid enum value in random casing, or one that only looks like one. */
const enumLike = fc.oneof(
  fc
    .tuple(fc.constantFrom(...ENUM_VALUES), fc.nat())
    .map(([v, bits]) =>
      [...v].map((c, i) => ((bits >> i) & 1 ? c.toUpperCase() : c.toLowerCase())).join(""),
    ),
  fc.constantFrom("Solaris", "V3", "sparc", "Public", "Blob", "", " Linux", "Linux\u0000", "Lınux"),
  fc.string({ unit: "binary", maxLength: 20 }),
);

const numbers = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    -0.5,
    1.5,
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 53,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -1e308,
    Number.MIN_VALUE,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

const strings = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(0, 257, 4097, 70000).map((n) => "x".repeat(n)),
  fc.constantFrom("2001-01-01", "not a date", "9999-12-31T23:59:59Z", "+275760-09-13T00:00:00Z"),
);

const garbage: fc.Arbitrary<Json> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }) as fc.Arbitrary<Json>,
  },
  { weight: 2, arbitrary: numbers },
  { weight: 2, arbitrary: strings },
  { weight: 2, arbitrary: enumLike },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, true, [], {}, [{}], { "": null }) },
);

type Mutation =
  | { op: "drop"; at: number }
  | { op: "set"; at: number; value: Json }
  | { op: "addKey"; at: number; key: string; value: Json }
  | { op: "wrap"; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: garbage }),
  fc.record({
    op: fc.constant("addKey" as const),
    at: fc.nat(),
    key: fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.constantFrom("osType", "__proto__", "a\u2028b", "a\nb", "a<b", ""),
    ),
    value: garbage,
  }),
  fc.record({ op: fc.constant("wrap" as const), at: fc.nat() }),
);

type Path = (string | number)[];

function pathsOf(value: Json, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  }
  return out;
}

function at(root: Json, path: Path): Json {
  return path.reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, root);
}

function mutate(root: Json, m: Mutation): Json {
  const paths = pathsOf(root);
  const path = paths[m.at % paths.length]!;
  const current = at(root, path);
  let replacement: Json | undefined;
  switch (m.op) {
    case "drop":
      replacement = undefined;
      break;
    case "set":
      // A copy: generated values can be shared instances (`{}`, `[]` of constantFrom), and a later
      // mutation edits the body in place; edited, they would grow from run to run into cycles.
      replacement = structuredClone(m.value);
      break;
    case "wrap":
      replacement = [current];
      break;
    case "addKey":
      replacement =
        current !== null && typeof current === "object" && !Array.isArray(current)
          ? Object.defineProperty({ ...current }, m.key, {
              value: structuredClone(m.value),
              enumerable: true,
              writable: true,
              configurable: true,
            })
          : structuredClone(m.value);
      break;
  }
  if (path.length === 0) return replacement === undefined ? {} : replacement;
  const parent = at(root, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  const key = path.at(-1)!;
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    (parent as Record<string | number, Json>)[key] = replacement;
  }
  return root;
}

/** Mutations aimed at enum-valued properties that the body has. */
const ENUM_KEYS = new Set([
  "osType",
  "osState",
  "hyperVGeneration",
  "architecture",
  "supportedOSType",
  "permissions",
  "type",
]);

function mutateEnum(root: Json, which: number, value: Json): Json {
  const targets = pathsOf(root).filter((p) => ENUM_KEYS.has(String(p.at(-1))));
  if (targets.length === 0) return root;
  const path = targets[which % targets.length]!;
  const parent = at(root, path.slice(0, -1)) as Record<string, Json>;
  parent[path.at(-1) as string] = value;
  return root;
}

/** A request body: a mutated valid one mostly, or any JSON, or text that may not be JSON at all. */
function bodies(valid: Json[]): fc.Arbitrary<Send> {
  const mutated = fc
    .tuple(
      fc.constantFrom(...valid),
      fc.array(mutation, { maxLength: 4 }),
      fc.option(fc.tuple(fc.nat(), enumLike), { nil: undefined }),
    )
    .filter(([, ms, e]) => ms.length > 0 || e !== undefined)
    .map(([base, ms, e]) => {
      let body = structuredClone(base);
      if (e) body = mutateEnum(body, e[0], e[1]);
      for (const m of ms) body = mutate(body, m);
      return { body } as Send;
    });
  return fc.oneof(
    { weight: 6, arbitrary: mutated },
    {
      weight: 2,
      arbitrary: fc
        .jsonValue({ maxDepth: 4, stringUnit: "binary" })
        .map((body) => ({ body }) as Send),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([base, n]) => {
        const text = JSON.stringify(base);
        return { rawBody: text.slice(0, n % text.length) };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", maxLength: 60 }).map((rawBody) => ({ rawBody })),
    },
  );
}

const SPECIAL = [
  ".",
  "..",
  "/",
  "\\",
  "%",
  "%2F",
  "%2e",
  "%00",
  "?",
  "#",
  " ",
  "\u0000",
  "\n",
  "\t",
  "_",
  "-",
  "(",
  ")",
  "ü",
  "İ",
  "ß",
  "😀",
  "\u2028",
  "\uFEFF",
  "\uD800",
  ":",
  "@",
  "&",
  "=",
  "+",
  ";",
  "~",
  "*",
  "'",
  '"',
  "<",
  ">",
  "|",
  "^",
  "`",
  "{",
  "}",
];

const names = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc
    .array(fc.oneof(fc.constantFrom(...SPECIAL), fc.string({ minLength: 1, maxLength: 6 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((parts) => parts.join("")),
  // near the naming rules, where length and the first and last characters decide
  fc.stringMatching(/^[A-Za-z0-9_.()-]{1,100}$/),
  fc.constantFrom("", ".", "..", "a".repeat(80), "a".repeat(81), "a".repeat(91), "a".repeat(300)),
);

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * `strict`: every byte but the unreserved ones %-encoded (what encodeURIComponent does).
 * `loose`: only what cannot stand on a request line at all, so `/`, `%`, `\` and `..` reach the
 * server raw and may change the shape of the path.
 */
function encodeName(name: string, mode: "strict" | "loose"): string {
  let out = "";
  for (const ch of name) {
    const keep =
      mode === "strict"
        ? UNRESERVED.test(ch)
        : ch.length === 1 && ch > " " && ch < "\u007f" && ch !== "?" && ch !== "#";
    if (keep) out += ch;
    else {
      for (const b of Buffer.from(ch, "utf8"))
        out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The store, as clients see it

async function get(path: string) {
  const res = await send(t, token, "GET", path);
  assert.equal(res.status, 200, `GET ${path}: ${res.text}`);
  return res.json!;
}

const idPath = (id: string) => id.split("/").map(encodeURIComponent).join("/");

/** Every resource group, every gallery and everything in every gallery, as the lists show them. */
async function snapshot() {
  const [groups, galleries] = await Promise.all([
    get(`/subscriptions/${sub}/resourcegroups?${RG_API}`),
    get(`/subscriptions/${sub}/providers/Microsoft.Compute/galleries?${API}`),
  ]);
  const children = await Promise.all(
    (galleries.value as { id: string }[]).flatMap((g) => [
      get(`${idPath(g.id)}/images?${API}`),
      get(`${idPath(g.id)}/applications?${API}`),
    ]),
  );
  return { groups, galleries, children };
}

let baseline: Awaited<ReturnType<typeof snapshot>>;

/** The three promises of the file, for one answer; keeps `baseline` current. */
async function judge(what: string, res: Answer) {
  const context = `${what.slice(0, 2000)} → ${res.status} ${res.text.slice(0, 500)}`;
  assert.ok(res.status < 500, `server error: ${context}`);
  assert.ok((res.status >= 200 && res.status < 300) || res.status >= 400, context);
  if (res.status >= 400) {
    const error = res.json?.error;
    assert.ok(error && typeof error === "object", `no ARM error envelope: ${context}`);
    assert.ok(typeof error.code === "string" && error.code.length > 0, `no code: ${context}`);
    assert.ok(
      typeof error.message === "string" && error.message.length > 0,
      `no message: ${context}`,
    );
    if (error.target !== undefined) {
      assert.ok(
        typeof error.target === "string" && error.target.length > 0,
        `empty target: ${context}`,
      );
    }
    const now = await snapshot();
    const before = baseline;
    baseline = now;
    assert.deepEqual(now, before, `a refused request changed the store: ${context}`);
    return;
  }
  // Accepted: whatever it created goes again, so the runs after it start from the fixtures.
  if (res.status === 201 && typeof res.json?.id === "string") {
    const api = res.json.id.includes("/providers/") ? API : RG_API;
    const gone = await send(t, token, "DELETE", `${idPath(res.json.id)}?${api}`);
    assert.ok(gone.status < 300, `clean-up of ${res.json.id}: ${gone.status} ${gone.text}`);
  }
  baseline = await snapshot();
}

before(async () => {
  t = await startTestServer();
  token = await t.token();
  sub = t.credentials.subscriptionId;
  for (const k of KINDS) {
    const res = await send(t, token, "PUT", `${k.path(k.fixture)}?${k.api}`, {
      body: k.replace[0],
    });
    assert.equal(res.status, 201, res.text);
  }
  baseline = await snapshot();
});
after(() => t?.close());

const params = { numRuns: RUNS, ...replay };

for (const k of KINDS) {
  describe(k.label, () => {
    test("PUT with generated bodies", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          bodies(k.create),
          bodies(k.replace),
          async (fresh, create, replace) => {
            const path = `${k.path(fresh ? k.fresh : k.fixture)}?${k.api}`;
            const input = fresh ? create : replace;
            await judge(
              `PUT ${path} ${JSON.stringify(input)}`,
              await send(t, token, "PUT", path, input),
            );
          },
        ),
        params,
      );
    });

    test("PATCH with generated bodies", async () => {
      await fc.assert(
        fc.asyncProperty(bodies(k.patch), async (input) => {
          const path = `${k.path(k.fixture)}?${k.api}`;
          await judge(
            `PATCH ${path} ${JSON.stringify(input)}`,
            await send(t, token, "PATCH", path, input),
          );
        }),
        params,
      );
    });

    for (const method of ["PUT", "PATCH"] as const) {
      test(`${method} with generated names`, async () => {
        await fc.assert(
          fc.asyncProperty(
            names,
            fc.constantFrom("strict" as const, "loose" as const),
            // mostly the resource's own name, sometimes one of its parents'
            fc.oneof(fc.constant(k.fresh.length - 1), fc.nat({ max: k.fresh.length - 1 })),
            async (name, mode, segment) => {
              const segments = [...k.fresh];
              segments[segment] = encodeName(name, mode);
              const path = `${k.path(segments)}?${k.api}`;
              const body = method === "PUT" ? k.create[0] : { tags: { env: "x" } };
              const what = `${method} ${path} (name ${JSON.stringify(name)}, ${mode})`;
              await judge(what, await send(t, token, method, path, { body }));
            },
          ),
          params,
        );
      });
    }
  });
}
