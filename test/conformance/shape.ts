/**
 * What the two conformance replays (spec examples, az recordings) compare in a response body: its
 * SHAPE. Every property path Azure showed must be in our body with the same JSON type; array
 * elements share one path (`properties.customActions[].name`), and a list's items sit under
 * `value[]`. Our extra properties are fine (Azure adds properties over api-versions too). Values
 * are never compared: names, ids (other subscription), GUIDs, timestamps, region spellings and
 * provisioningState/status (a recorded poll may say InProgress; ours finish before we answer)
 * differ by nature between a recording and a replay. One known value difference is not emulated:
 * Azure's list of a group's galleries upper-cases the group in each `id` (az-recordings
 * SHAPES.md §3); we keep the caller's spelling, ARM ids being case-insensitive. Real answers (the
 * az recordings, not the hand-written spec examples) are also held to Azure's key order
 * (`compareKeyOrder`).
 *
 * The one place where a missing or differently typed property is accepted is `EXCLUSIONS` below,
 * each with its reason, and, where the property belongs to a feature not built yet, the issue that
 * will bring it. This module reads no files: only the two *.test.ts files touch ../shared.
 */

export type JsonType = "string" | "number" | "boolean" | "null" | "object" | "array";

/** Where a comparison happens, so an exclusion can be narrowed to a source or resource kind. */
export interface ShapeContext {
  source: "spec-example" | "az-recording";
  /** Example file name (`Gallery_Get`) or `cassette#index`. */
  name: string;
  /** The answer to a PUT or PATCH (as opposed to a read or a poll). */
  write?: boolean;
  kind:
    "gallery" | "image" | "imageVersion" | "application" | "disk" | "resourceGroup" | "operation";
}

export interface Exclusion {
  /** A property path; it also covers everything below it, and matches under a list's `value[]`. */
  path: string;
  reason: string;
  /** The issue whose feature this property belongs to, when it is one we have not built yet. */
  issue?: string;
  /** Narrows the exclusion; it applies everywhere when absent. */
  when?: (ctx: ShapeContext) => boolean;
}

/** Features not built yet, named as the issues that will bring them. */
export const ISSUES = {
  scripts: "issue: gallery scripts",
  inVMAccessControlProfiles: "issue: inVMAccessControlProfiles",
  sharing: "issue: direct sharing (POST galleries/{g}/share, sharingProfile.groups, sharingStatus)",
  sharingInvites: "issue: direct sharing (shared-gallery invites accept/reject)",
  sharedGalleries: "issue: shared gallery views (locations/{l}/sharedGalleries)",
  communityGalleries:
    "issue: community galleries (EnableCommunity, locations/{l}/communityGalleries)",
  softDelete: "issue: soft delete (soft-deleted artifact lists)",
  identity: "issue: gallery managed identity (`identity` on galleries)",
  disks: "issue: managed disks and snapshots",
} as const;

/** The answer to a write of an image version, in a spec example. */
const exampleVersionWrite = (ctx: ShapeContext) =>
  ctx.source === "spec-example" && ctx.kind === "imageVersion" && ctx.write === true;

export const EXCLUSIONS: readonly Exclusion[] = [
  ...[
    "properties.storageProfile.osDiskImage.sizeInGB",
    "properties.storageProfile.dataDiskImages[].sizeInGB",
  ].map((path) => ({
    path,
    reason:
      "example inconsistency: the examples' PUT answers show disk sizes, but Azure computes them " +
      "only once replication is done (az recordings: test_gallery_specialized#41 has none, the " +
      "final GET #50 has them); this server answers the same way",
    when: exampleVersionWrite,
  })),
  ...["properties.storageProfile.osDiskImage", "properties.storageProfile.dataDiskImages"].map(
    (path) => ({
      path,
      reason:
        "example inconsistency: a version made from another version shows its disks only once " +
        "replication is done (az recordings: test_image_version_create_for_diff_source#41 has " +
        "only storageProfile.source, the final GET #52 has the disks); this server answers the same way",
      when: (ctx: ShapeContext) =>
        exampleVersionWrite(ctx) &&
        ctx.name === "GalleryImageVersion_Create_WithImageVersionAsSource",
    }),
  ),
  {
    path: "properties.safetyProfile.policyViolations",
    reason:
      "reported by Azure's scanning of published images for policy violations, which this server " +
      "does not do (reportedForPolicyViolation is always false here)",
    when: (ctx) => ctx.kind === "imageVersion",
  },
  {
    path: "properties.softDeletePolicy",
    reason:
      "example inconsistency (azure-spec NOTES.md §8): the 201/202 answers of " +
      "Gallery_Create_WithManagedIdentity show a softDeletePolicy its request never sent; we " +
      "echo only what was sent, as the az recordings show Azure doing",
    when: (ctx) => ctx.name === "Gallery_Create_WithManagedIdentity",
  },
  ...["tags.Creator", "tags.DateCreated"].map((path) => ({
    path,
    reason:
      "an Azure Policy of the recording subscription tagged the resource group while the test " +
      "ran (later GETs show Creator/DateCreated, no recorded call set them); we create the group " +
      "with the tags of its first recorded GET",
    when: (ctx: ShapeContext) => ctx.source === "az-recording" && ctx.kind === "resourceGroup",
  })),
  {
    path: "properties.sharingProfile.groups",
    reason:
      "groups are read-only on a gallery and only change through POST .../share, so a replay " +
      "cannot put them there",
    issue: ISSUES.sharing,
    when: (ctx) => ctx.kind === "gallery",
  },
  {
    path: "properties.sharingStatus",
    reason: "reported by the sharing machinery, which does not exist yet",
    issue: ISSUES.sharing,
    when: (ctx) => ctx.kind === "gallery",
  },
  {
    path: "identity",
    reason:
      "galleries do not take a managed identity yet; the PUT drops `identity` as an unknown " +
      "property, so the answer has none",
    issue: ISSUES.identity,
    when: (ctx) => ctx.kind === "gallery",
  },
];

/** Every property path of a JSON value, with the JSON types seen there. */
export function shapeOf(value: unknown): Map<string, Set<JsonType>> {
  const out = new Map<string, Set<JsonType>>();
  const visit = (v: unknown, path: string) => {
    const type = jsonType(v);
    if (path) {
      let types = out.get(path);
      if (!types) out.set(path, (types = new Set()));
      types.add(type);
    }
    if (type === "array") for (const item of v as unknown[]) visit(item, `${path}[]`);
    if (type === "object") {
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        visit(child, path ? `${path}.${k}` : k);
      }
    }
  };
  visit(value, "");
  return out;
}

function jsonType(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v as JsonType;
}

function covers(pattern: string, path: string): boolean {
  for (const p of [pattern, `value[].${pattern}`]) {
    if (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[]`)) return true;
  }
  return false;
}

export function exclusionFor(path: string, ctx: ShapeContext): Exclusion | undefined {
  return EXCLUSIONS.find((e) => covers(e.path, path) && (e.when?.(ctx) ?? true));
}

export interface ShapeReport {
  /** Paths Azure showed that we lack or type differently. Empty means the shapes conform. */
  problems: string[];
  /** Paths accepted as different, with the exclusion that accepted them. */
  excluded: { path: string; exclusion: Exclusion }[];
}

/** Compares our body with Azure's: every path of `azure` must be in `ours` with the same type. */
export function compareShape(azure: unknown, ours: unknown, ctx: ShapeContext): ShapeReport {
  const report: ShapeReport = { problems: [], excluded: [] };
  if (jsonType(azure) !== jsonType(ours)) {
    report.problems.push(`body: Azure sent ${jsonType(azure)}, we sent ${jsonType(ours)}`);
    return report;
  }
  const ourShape = shapeOf(ours);
  const missing: string[] = [];
  for (const [path, types] of shapeOf(azure)) {
    // Below a missing property everything is missing too: name the top only.
    if (missing.some((m) => path.startsWith(`${m}.`) || path.startsWith(`${m}[]`))) continue;
    const exclusion = exclusionFor(path, ctx);
    if (exclusion) {
      // Report only the top of an excluded subtree.
      if (!report.excluded.some((e) => covers(e.path, path))) {
        report.excluded.push({ path, exclusion });
      }
      continue;
    }
    const have = ourShape.get(path);
    if (!have) {
      missing.push(path);
      report.problems.push(`missing ${path} (${[...types].join("|")})`);
      continue;
    }
    for (const type of types) {
      if (!have.has(type)) {
        report.problems.push(`${path}: Azure sent ${type}, we sent ${[...have].join("|")}`);
      }
    }
  }
  return report;
}

/**
 * Key order, for real answers only (the az recordings; the spec examples are hand-written): in
 * every object, the keys both bodies have must come in Azure's order. Clients don't care, but a
 * reader comparing our answer with Azure's does, and the renderer promises Azure's order.
 */
export function compareKeyOrder(azure: unknown, ours: unknown, path = ""): string[] {
  if (jsonType(azure) !== jsonType(ours)) return [];
  if (Array.isArray(azure)) {
    const theirs = ours as unknown[];
    return azure.flatMap((item, i) =>
      i < theirs.length ? compareKeyOrder(item, theirs[i], `${path}[]`) : [],
    );
  }
  if (jsonType(azure) !== "object") return [];
  const a = azure as Record<string, unknown>;
  const o = ours as Record<string, unknown>;
  const common = Object.keys(a).filter((k) => k in o);
  const mine = Object.keys(o).filter((k) => k in a);
  const problems =
    common.join() === mine.join()
      ? []
      : [`key order of ${path || "the body"}: Azure ${common.join(", ")}; we ${mine.join(", ")}`];
  for (const k of common) problems.push(...compareKeyOrder(a[k], o[k], path ? `${path}.${k}` : k));
  return problems;
}

/** Azure regions with availability zones among those the examples and recordings use. */
const ZONED = new Set([
  "eastus",
  "eastus2",
  "centralus",
  "southcentralus",
  "westus2",
  "westus3",
  "westeurope",
  "northeurope",
  "uksouth",
  "francecentral",
  "swedencentral",
  "japaneast",
  "southeastasia",
  "australiaeast",
]);

/** A region of the server a replay starts, with zones where Azure has them (ZRS needs them). */
export const replayRegion = (name: string) =>
  ZONED.has(name) ? { name, zones: ["1", "2", "3"] } : { name };
