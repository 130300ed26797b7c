/**
 * Conformance replay of real Azure traffic: the azure-cli `az sig` test cassettes in
 * ../shared/az-recordings (vcrpy YAML recorded against Azure in 2023, see its INDEX.md). Each
 * cassette runs in order, in its own resource group on one shared server (the group is deleted
 * afterwards, so cassettes that reuse a group name start clean). Interactions with what this
 * server implements — the resource group, galleries, image definitions, image versions, gallery
 * applications, managed disks and snapshots, and the capsOperations / DiskOperations polls that
 * follow their writes — are replayed with the recorded method, path, query (api-version
 * included) and body; only the subscription id and the host change, and a poll follows the URL
 * *our* answer gave. Compared: the status code, the presence of the Azure-AsyncOperation and
 * Location headers, the body's shape (shape.ts, with its documented exclusions; an empty recorded
 * body must be empty here too) and, as these are real answers, the order of the keys both bodies
 * have.
 *
 * Azure replicates an image version in minutes and the CLI polled it several times; this server
 * may have finished by the first poll, which is fine. Where Azure's recorded poll says the
 * operation ended, ours is polled until it has ended too before the answers are compared, so that
 * the GET that follows sees the finished version (with its disks' sizes), as it did on Azure.
 *
 * Everything else is skipped visibly, as subtests naming the interactions and the reason: features
 * not built yet (with their issue), calls outside this emulator (VMs, networks, blob uploads…),
 * image versions whose source this server does not host (managed images, virtual machines, VHDs
 * in storage accounts, edge zones) and interactions that depend on a skipped one (a poll of a
 * skipped operation; reads of a resource a skipped call created or changed).
 *
 * The resource group is created first, from the cassette's first resource-group GET: the test
 * framework's ResourceGroupPreparer made it before recording started.
 *
 * Only this file and spec-examples.test.ts read ../shared; nothing is copied into the project.
 * Without ../shared/az-recordings the test skips and says so.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { parse } from "yaml";
import { call, startTestServer, type TestServer } from "../helpers/server.js";
import {
  compareKeyOrder,
  compareShape,
  ISSUES,
  type Exclusion,
  type ShapeContext,
  replayRegion,
} from "./shape.js";

const REPO = resolve(import.meta.dirname, "../..");
const RECORDINGS = resolve(REPO, "../shared/az-recordings");

const RG_API = "2022-09-01";

/** The subscription id the cassettes were scrubbed to. */
const RECORDED_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";

interface Interaction {
  request: { method: string; uri: string; body: string | null; headers: Record<string, string[]> };
  response: {
    status: { code: number };
    headers: Record<string, string[] | undefined>;
    body: { string: string };
  };
}

type Kind = ShapeContext["kind"];

type Target =
  | { kind: Exclude<Kind, "operation">; resource: string }
  | { kind: "operation"; operationId: string; monitor: boolean; disks: boolean }
  | { skip: string };

const SUB = "^/subscriptions/[^/]+";
const GROUP = `${SUB}/resourcegroups/[^/]+`;
const GALLERIES = `${GROUP}/providers/Microsoft\\.Compute/galleries`;

/** Paths of what we implement, most specific last; `kind` names the resource (or its list). */
const IMPLEMENTED: [RegExp, Exclude<Kind, "operation">][] = [
  [new RegExp(`${GROUP}$`, "i"), "resourceGroup"],
  [new RegExp(`${SUB}/providers/Microsoft\\.Compute/galleries$`, "i"), "gallery"],
  [new RegExp(`${GALLERIES}(/[^/]+)?$`, "i"), "gallery"],
  [new RegExp(`${GALLERIES}/[^/]+/images(/[^/]+)?$`, "i"), "image"],
  [new RegExp(`${GALLERIES}/[^/]+/images/[^/]+/versions(/[^/]+)?$`, "i"), "imageVersion"],
  [new RegExp(`${GROUP}/providers/Microsoft\\.Compute/(disks|snapshots)(/[^/]+)?$`, "i"), "disk"],
  [new RegExp(`${GALLERIES}/[^/]+/applications(/[^/]+)?$`, "i"), "application"],
];

const OPERATION = new RegExp(
  `${SUB}/providers/Microsoft\\.Compute/locations/[^/]+/(capsOperations|DiskOperations)/([^/]+)$`,
  "i",
);

const OUTSIDE = "outside this emulator";

/** Why the rest is not replayed, first match wins. */
const NOT_REPLAYED: [RegExp, string][] = [
  [
    // Built (test/gallery/application-versions.test.ts), but the cassette's only version is made
    // from a blob in a real storage account, which a PUT here must read: all that follows on the
    // version (poll, GETs, update, list, delete) depends on it.
    /\/applications\/[^/]+\/versions(\/|$)/i,
    "gallery application version whose mediaLink is on Azure Storage, unreachable here " +
      "(account000002.blob.core.windows.net): its PUT and every later call on it are not replayed",
  ],
  [/\/galleries\/[^/]+\/share$/i, `sharing is not built yet (${ISSUES.sharing})`],
  [
    /\/sharedGalleries(\/|$)/i,
    `shared gallery views are not built yet (${ISSUES.sharedGalleries})`,
  ],
  [
    /\/communityGalleries(\/|$)/i,
    `community gallery views are not built yet (${ISSUES.communityGalleries})`,
  ],
  [/Microsoft\.ResourceGraph\//i, `Azure Resource Graph (az sig list-community): ${OUTSIDE}`],
  [/\/virtualMachines(\/|$)/i, `virtual machines: ${OUTSIDE}`],
  [/Microsoft\.Compute\/images(\/|$)/i, `managed images (Microsoft.Compute/images): ${OUTSIDE}`],
  [
    /\/locations\/[^/]+\/operations\//i,
    `compute operation polls of VM/managed-image calls: ${OUTSIDE}`,
  ],
  [/\/artifacttypes\/vmimage\//i, `marketplace image lookups (az vm create): ${OUTSIDE}`],
  [/Microsoft\.Network\//i, `networking (az vm create): ${OUTSIDE}`],
  [/Microsoft\.Resources\/deployments/i, `ARM template deployments (az vm create): ${OUTSIDE}`],
  [/Microsoft\.Storage\//i, `storage accounts: ${OUTSIDE}`],
  [
    /Microsoft\.KeyVault\/|Microsoft\.Authorization\//i,
    `key vaults and role assignments: ${OUTSIDE}`,
  ],
  [/\/diskEncryptionSets(\/|$)/i, `disk encryption sets: ${OUTSIDE}`],
  [/^\/subscriptions\/[^/]+\/resources$/i, `ARM's generic resource list: ${OUTSIDE}`],
];

function classify(uri: string): Target {
  const url = new URL(uri);
  if (url.host !== "management.azure.com") {
    return { skip: `data-plane call to ${url.host} (blob upload, key vault, Graph): ${OUTSIDE}` };
  }
  const path = url.pathname;
  const op = OPERATION.exec(path);
  if (op) {
    return {
      kind: "operation",
      operationId: op[2]!,
      monitor: url.searchParams.get("monitor") === "true",
      disks: op[1]!.toLowerCase() === "diskoperations",
    };
  }
  const hit = IMPLEMENTED.find(([re]) => re.test(path));
  if (hit) return { kind: hit[1], resource: resourceKey(path) };
  const why = NOT_REPLAYED.find(([re]) => re.test(path));
  return { skip: why ? why[1] : `not implemented: ${path}` };
}

/** A resource path without subscription, in lower case (ARM paths are case-insensitive). */
const resourceKey = (path: string) => path.replace(/^\/subscriptions\/[^/]+/i, "").toLowerCase();

const header = (headers: Record<string, string[] | undefined>, name: string) =>
  headers[name]?.[0] ?? headers[name.toLowerCase()]?.[0];

/** The operation ids a recorded answer pointed at (Azure-AsyncOperation / Location). */
function recordedOperations(i: Interaction): string[] {
  return ["azure-asyncoperation", "location"]
    .map((h) => header(i.response.headers, h))
    .map((url) => (url ? /\/(?:caps|Disk)Operations\/([^/?]+)/i.exec(url)?.[1] : undefined))
    .filter((id): id is string => id !== undefined);
}

function regionsOf(interactions: Interaction[]): string[] {
  const found = new Set<string>();
  for (const i of interactions) {
    const target = classify(i.request.uri);
    if ("skip" in target || target.kind === "operation") continue;
    for (const text of [
      i.request.body,
      target.kind === "resourceGroup" ? i.response.body.string : null,
    ]) {
      const location = text ? (JSON.parse(text) as { location?: unknown }).location : undefined;
      if (typeof location === "string") found.add(location.replace(/\s+/g, "").toLowerCase());
    }
  }
  return [...found].sort();
}

/** One cassette, in its own resource group, which is deleted afterwards. */
async function replayCassette(
  server: TestServer,
  cassette: string,
  interactions: Interaction[],
  tt: TestContext,
) {
  const sub = server.credentials.subscriptionId;
  const ours = (text: string) => text.replaceAll(RECORDED_SUBSCRIPTION, sub);

  /** What became of each recorded operation: our poll URLs, or the skipped call that started it. */
  const operations = new Map<string, { async?: string; location?: string } | { skipped: number }>();
  /** Resources (and lists of them) whose state a skipped call changed, with that call's index. */
  const tainted = new Map<string, number>();
  const counts = { replayed: 0, notImplemented: 0, dependent: 0 };
  /** Excluded paths seen, with the interactions they were excluded in (reported once). */
  const excluded = new Map<string, { exclusion: Exclusion; at: number[] }>();
  let pending: { from: number; to: number; reason: string } | undefined;

  const flushSkips = async () => {
    if (!pending) return;
    const { from, to, reason } = pending;
    pending = undefined;
    const n = to - from + 1;
    const name = n === 1 ? `#${from}` : `#${from}–#${to} (${n} interactions)`;
    await tt.test(name, { skip: reason }, () => {});
  };
  const skip = async (index: number, reason: string, dependent: boolean) => {
    counts[dependent ? "dependent" : "notImplemented"]++;
    if (pending && pending.reason === reason && pending.to === index - 1) pending.to = index;
    else {
      await flushSkips();
      pending = { from: index, to: index, reason };
    }
  };

  /** Image versions this replay created. */
  const versions = new Set<string>();

  const group = await createRecordedGroup(server, interactions, ours);
  try {
    for (const [index, i] of interactions.entries()) {
      const target = classify(i.request.uri);
      const url = new URL(i.request.uri);
      if ("skip" in target) {
        for (const id of recordedOperations(i)) operations.set(id, { skipped: index });
        const share = /^(.*\/galleries\/[^/]+)\/share$/i.exec(url.pathname);
        if (share && i.request.method !== "GET") {
          const gallery = resourceKey(share[1]!);
          tainted.set(gallery, index);
          tainted.set(gallery.replace(/\/[^/]+$/, ""), index);
        }
        await skip(index, target.skip, false);
        continue;
      }

      let path: string;
      if (target.kind === "operation") {
        const started = operations.get(target.operationId);
        if (!started) {
          await skip(index, "poll of an operation this cassette never started", true);
          continue;
        }
        if ("skipped" in started) {
          await skip(index, `poll of the operation started by skipped #${started.skipped}`, true);
          continue;
        }
        const mine = target.monitor ? started.location : started.async;
        if (!mine) {
          await flushSkips();
          await tt.test(`#${index} GET capsOperations`, () =>
            assert.fail(
              `our answer had no ${target.monitor ? "Location" : "Azure-AsyncOperation"} header to poll`,
            ),
          );
          continue;
        }
        const u = new URL(mine);
        path = `${u.pathname}${u.search}`;
      } else {
        const since = tainted.get(target.resource);
        if (since !== undefined) {
          for (const id of recordedOperations(i)) operations.set(id, { skipped: index });
          await skip(index, `depends on skipped #${since}, which changed this resource`, true);
          continue;
        }
        const why =
          i.request.method === "PUT" && i.request.body
            ? writeSkip(target, JSON.parse(i.request.body), { tainted, versions })
            : undefined;
        if (why) {
          for (const id of recordedOperations(i)) operations.set(id, { skipped: index });
          tainted.set(target.resource, index);
          tainted.set(target.resource.replace(/\/[^/]+$/, ""), index);
          await skip(index, why.reason, why.dependent);
          continue;
        }
        if (i.request.method === "PUT" && i.request.body) {
          noteWrite(target, { versions });
        }
        path = ours(`${url.pathname}${url.search}`);
      }

      await flushSkips();
      counts.replayed++;
      // Azure signs its async URLs (t, c, s, h): long and meaningless in a test name.
      const query = [...url.searchParams].filter(([k]) => !["t", "c", "s", "h"].includes(k));
      const shortPath = `${url.pathname.replace(/^\/subscriptions\/[^/]+/i, "")}?${new URLSearchParams(query)}`;
      await tt.test(`#${index} ${i.request.method} ${shortPath}`, async () => {
        const body = i.request.body ? ours(i.request.body) : undefined;
        const send = () =>
          call(server, i.request.method, path, {
            rawBody: body,
            headers: body ? { "content-type": "application/json" } : {},
          });
        let res = await send();
        if (target.kind === "operation" && operationEnded(i, target.monitor)) {
          // Azure's operation had ended by this poll; ours may still be replicating.
          const deadline = Date.now() + POLL_LIMIT_MS;
          while (!operationEnded(res, target.monitor) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
            res = await send();
          }
        }
        if (target.kind !== "operation") {
          for (const id of recordedOperations(i)) {
            operations.set(id, {
              async: res.headers.get("azure-asyncoperation") ?? undefined,
              location: res.headers.get("location") ?? undefined,
            });
          }
        }
        const ctx: ShapeContext = {
          source: "az-recording",
          name: `${cassette}#${index}`,
          kind: target.kind,
        };
        for (const { path, exclusion } of compare(i, res, ctx)) {
          const seen = excluded.get(path) ?? { exclusion, at: [] };
          seen.at.push(index);
          excluded.set(path, seen);
        }
      });
    }
    await flushSkips();
    for (const [path, { exclusion, at }] of excluded) {
      tt.diagnostic(
        `excluded ${path} in ${at.map((n) => `#${n}`).join(" ")}: ${exclusion.reason}${exclusion.issue ? ` (${exclusion.issue})` : ""}`,
      );
    }
    tt.diagnostic(
      `${cassette}: ${interactions.length} interactions — replayed ${counts.replayed}, skipped ${counts.notImplemented + counts.dependent} (not implemented ${counts.notImplemented}, dependent ${counts.dependent})`,
    );
  } finally {
    await call(server, "DELETE", `${group}?api-version=${RG_API}`);
  }
}

/** How long a poll waits for our operation to end where Azure's recorded one had ended. */
const POLL_LIMIT_MS = 60_000;

/** Whether a poll's answer (recorded, or ours) says the operation has ended. */
function operationEnded(
  answer: Interaction | { status: number; json: Record<string, any> | undefined },
  monitor: boolean,
): boolean {
  const status = "response" in answer ? answer.response.status.code : answer.status;
  if (monitor) return status !== 202;
  const body =
    "response" in answer
      ? (JSON.parse(answer.response.body.string || "{}") as { status?: string })
      : answer.json;
  return body?.status !== undefined && body.status !== "InProgress";
}

const idKey = (id: string) => resourceKey(id);

/**
 * Why a PUT cannot be replayed, if it cannot: an image version from a source this server does not
 * host or that a skipped call made, or a copy of a disk a skipped call made.
 */
function writeSkip(
  target: { kind: Kind; resource: string },
  body: Record<string, any>,
  seen: { tainted: Map<string, number>; versions: Set<string> },
): { reason: string; dependent: boolean } | undefined {
  const dependsOn = (id: string) => {
    const since = seen.tainted.get(idKey(id));
    return since === undefined
      ? undefined
      : { reason: `its source was made by skipped #${since}`, dependent: true };
  };
  if (target.kind === "disk") {
    const source = body.properties?.creationData?.sourceResourceId as string | undefined;
    return source ? dependsOn(source) : undefined;
  }
  if (target.kind !== "imageVersion" || seen.versions.has(target.resource)) return undefined;
  const p = body.properties ?? {};
  if ((p.publishingProfile?.targetExtendedLocations ?? []).length > 0) {
    return {
      reason: `image version replicated to edge zones (publishingProfile.targetExtendedLocations): ${OUTSIDE}`,
      dependent: false,
    };
  }
  const sp = p.storageProfile ?? {};
  const top = (sp.source?.id ?? sp.source?.virtualMachineId) as string | undefined;
  if (sp.source?.communityGalleryImageId) {
    return {
      reason: "image version from a community gallery image: not hosted here",
      dependent: false,
    };
  }
  const unhosted: [RegExp, string][] = [
    [/\/Microsoft\.Compute\/images\//i, "a managed image (Microsoft.Compute/images)"],
    [
      /\/Microsoft\.Compute\/virtualMachines\//i,
      "a virtual machine (Microsoft.Compute/virtualMachines)",
    ],
  ];
  const kind = top && unhosted.find(([re]) => re.test(top))?.[1];
  if (kind) {
    return {
      reason: `image version from ${kind}, which this server does not host`,
      dependent: false,
    };
  }
  if (top) return dependsOn(top);
  const disks = [sp.osDiskImage, ...(sp.dataDiskImages ?? [])].filter((d) => d?.source);
  if (disks.some((d) => d.source.uri)) {
    return {
      reason: `image version with a VHD source, a blob in a storage account made by calls ${OUTSIDE}`,
      dependent: false,
    };
  }
  for (const d of disks) {
    const dep = dependsOn(d.source.id);
    if (dep) return dep;
  }
  return undefined;
}

/** Remembers the image versions a replayed PUT created. */
function noteWrite(target: { kind: Kind; resource: string }, seen: { versions: Set<string> }) {
  if (target.kind === "imageVersion") seen.versions.add(target.resource);
}

/** The resource group the test framework created before recording, as the first GET shows it. */
async function createRecordedGroup(
  server: TestServer,
  interactions: Interaction[],
  ours: (text: string) => string,
) {
  const get = interactions.find(
    (i) =>
      i.request.method === "GET" &&
      (classify(i.request.uri) as { kind?: Kind }).kind === "resourceGroup",
  );
  assert.ok(get, "the cassette never reads its resource group");
  const shown = JSON.parse(get.response.body.string) as { location: string; tags?: object };
  const url = new URL(get.request.uri);
  const group = ours(url.pathname);
  const res = await call(server, "PUT", `${group}?api-version=${RG_API}`, {
    body: { location: shown.location, tags: shown.tags },
  });
  assert.equal(res.status, 201, `creating the recorded resource group: ${res.text}`);
  return group;
}

/** Asserts status, async headers, body shape and key order; returns the excluded paths. */
function compare(i: Interaction, res: Awaited<ReturnType<typeof call>>, ctx: ShapeContext) {
  assert.equal(res.status, i.response.status.code, `status (our body: ${res.text})`);
  for (const name of ["Azure-AsyncOperation", "Location"]) {
    const recorded = header(i.response.headers, name) !== undefined;
    const mine = res.headers.get(name) !== null;
    assert.equal(mine, recorded, `${name} header: Azure ${recorded ? "sent" : "did not send"} one`);
  }
  const recorded = i.response.body.string;
  if (!recorded) {
    assert.equal(res.text, "", "Azure answered with an empty body");
    return [];
  }
  const azure = JSON.parse(recorded) as unknown;
  const report = compareShape(azure, res.json, ctx);
  assert.deepEqual(report.problems, [], "body shape differs from Azure's");
  assert.deepEqual(compareKeyOrder(azure, res.json), [], "key order differs from Azure's");
  return report.excluded;
}

if (!existsSync(RECORDINGS)) {
  test(
    "az recordings",
    { skip: "../shared/az-recordings not present: conformance replay skipped" },
    () => {},
  );
} else {
  const cassettes = readdirSync(RECORDINGS)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => ({
      name: file.replace(/\.yaml$/, ""),
      interactions: (
        parse(readFileSync(join(RECORDINGS, file), "utf8")) as { interactions: Interaction[] }
      ).interactions,
    }));
  // One server for all cassettes (each cleans up its resource group), serving every region used.
  let server: TestServer;
  before(async () => {
    const regions = new Set(cassettes.flatMap((c) => regionsOf(c.interactions)));
    server = await startTestServer({ regions: [...regions].sort().map(replayRegion) });
  });
  after(() => server.close());
  for (const c of cassettes) {
    test(`${c.name}.yaml`, (tt) => replayCassette(server, c.name, c.interactions, tt));
  }
}
