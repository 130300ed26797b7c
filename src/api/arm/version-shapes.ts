/**
 * Which response properties each accepted gallery api-version knows. A property that a version's
 * model does not have is left out of the answer to that version, as Azure does.
 *
 * Each entry is the first accepted api-version whose swagger model has the property; a property in
 * every accepted version (2021-07-01 on) is not listed. Paths are relative to `properties`; `a.b`
 * is a nested key, `a[].b` a key of each item of the array `a`. Read from Azure/azure-rest-api-specs,
 * specification/compute/resource-manager/Microsoft.Compute/:
 *   GalleryRP/stable/2021-07-01/gallery.json            (commit 7b3a2c5548abfd532d1f8e6f50c00ebc70882891)
 *   GalleryRP/stable/2021-10-01/gallery.json            (ba16d1ab3479ee43b0db0da3dbc19cc2306a221e)
 *   GalleryRP/stable/2022-01-03/gallery.json            (a31c376ede1e91abc3ab476ae8e8d316e80541c0)
 *   GalleryRP/stable/2022-03-03/gallery.json            (04ec3f55f10c0c502ec762b283aa7fe90c426705)
 *   GalleryRP/stable/2022-08-03/gallery.json            (00563240d4769bbcd6b2f85a1bbe6518d191e87a)
 *   GalleryRP/stable/2023-07-03/gallery.json            (31b39979986bbaa5f2a4f7d12722ec1f3fb961dd)
 *   GalleryRP/stable/2023-07-03/galleryRPCommon.json    (5d42328cb6e57628dd6d11664363278a7db8fb20)
 *   GalleryRP/stable/2024-03-03/GalleryRP.json          (015e18279b5ccd86001afb8458bcc45c0c7bace3)
 *   GalleryRP/stable/2025-03-03/GalleryRP.json          (015e18279b5ccd86001afb8458bcc45c0c7bace3)
 *   GalleryRP/stable/2025-12-03/GalleryRP.json          (b71f747bdc8850475febc2bc920ec6013e9a4c52)
 *   Compute/stable/2025-12-03/GalleryRP.json            (c5296d2f3176fe5105e901d3f42743348fb8944c)
 *   Compute/stable/2026-03-03/GalleryRP.json            (02b772848f8feee653663b6797e215179debce01)
 * Models compared: GalleryProperties, SharingProfile, CommunityGalleryInfo, SoftDeletePolicy,
 * GalleryImageProperties, GalleryImageFeature, ImagePurchasePlan, GalleryImageIdentifier,
 * RecommendedMachineConfiguration, Disallowed, GalleryApplicationProperties,
 * GalleryApplicationCustomAction(Parameter). The ones not below are the same in every version.
 * (From 2022-01-03 to 2023-07-03 the image feature/identifier/plan models live in
 * galleryRPCommon.json; only 2023-07-03's was read, the three before it are taken to match the
 * versions either side, which agree.)
 *
 * Not handled here: the gallery's top-level `identity` (from 2024-03-03; not a property, and not
 * answered by this server), and 2021-07-01's `provisioningState` on gallery applications (dropped
 * from 2021-10-01 on; this server never answers one for applications).
 */

/** Property path → first api-version that has it, per ARM type (as `TrackedKind.armType`). */
const FIRST_VERSION: Record<string, Record<string, string>> = {
  galleries: {
    sharingStatus: "2021-10-01",
    "sharingProfile.communityGalleryInfo": "2021-10-01",
    "softDeletePolicy.retentionPeriodInDays": "2026-03-03",
    "softDeletePolicy.gracePeriodInDays": "2026-03-03",
  },
  "galleries/images": {
    architecture: "2021-10-01",
    allowUpdateImage: "2024-03-03",
    "features[].startsAtVersion": "2024-03-03",
  },
  "galleries/applications": {
    customActions: "2022-03-03",
  },
  // Taken to arrive with the applications' own customActions (the same model, the same version).
  "galleries/applications/versions": {
    "publishingProfile.customActions": "2022-03-03",
  },
};

interface Step {
  key: string;
  /** The value at `key` is an array: apply the rest of the path to each item. */
  each: boolean;
}

type Props = Record<string, unknown>;

const parse = (path: string): Step[] =>
  path.split(".").map((part) => {
    const each = part.endsWith("[]");
    return { key: each ? part.slice(0, -2) : part, each };
  });

const isObject = (value: unknown): value is Props =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `obj` without the value at `steps`; the same object when there is nothing to remove. */
function without(obj: Props, steps: readonly Step[]): Props {
  const [step, ...rest] = steps;
  if (!step || !Object.hasOwn(obj, step.key)) return obj;
  if (rest.length === 0) {
    return Object.fromEntries(Object.entries(obj).filter(([key]) => key !== step.key));
  }
  const child = obj[step.key];
  let next: unknown;
  if (step.each) {
    if (!Array.isArray(child)) return obj;
    let changed = false;
    const items = child.map((item) => {
      const shaped = isObject(item) ? without(item, rest) : item;
      if (shaped !== item) changed = true;
      return shaped;
    });
    if (!changed) return obj;
    next = items;
  } else {
    if (!isObject(child)) return obj;
    next = without(child, rest);
    if (next === child) return obj;
  }
  return { ...obj, [step.key]: next };
}

/** Kind → api-version → paths: looked up per rendered item, without building a key string. */
const cache = new Map<string, Map<string, Step[][]>>();

/** The paths that `apiVersion` does not know for `kind` (memoized: few kinds and versions). */
function newerThan(kind: string, apiVersion: string): Step[][] {
  let byVersion = cache.get(kind);
  if (!byVersion) cache.set(kind, (byVersion = new Map()));
  let paths = byVersion.get(apiVersion);
  if (!paths) {
    // api-versions are `YYYY-MM-DD[-suffix]`: string order is date order.
    paths = Object.entries(FIRST_VERSION[kind] ?? {})
      .filter(([, first]) => apiVersion < first)
      .map(([path]) => parse(path));
    byVersion.set(apiVersion, paths);
  }
  return paths;
}

/**
 * `properties` as `apiVersion` shapes them for `kind` (an ARM type such as `galleries/images`):
 * without the properties that version's model does not have. The input is never changed; it is
 * returned as is when nothing is removed. Kinds not in the table are returned unchanged.
 */
export function shapeFor(kind: string, apiVersion: string, properties: Props): Props {
  let out = properties;
  for (const path of newerThan(kind, apiVersion)) out = without(out, path);
  return out;
}

/** A record whose `properties` are shaped by {@link shapeFor}; the same record if none change. */
export function shapeRecord<T extends { properties: Props }>(
  kind: string,
  apiVersion: string,
  record: T,
): T {
  const properties = shapeFor(kind, apiVersion, record.properties);
  return properties === record.properties ? record : { ...record, properties };
}
