/**
 * ARM resource ids. Ids are case-insensitive: `key` (lower-cased) is the identity in the store,
 * the spelled id is what we show.
 */
export const COMPUTE = "Microsoft.Compute";

export const TYPES = {
  resourceGroup: "Microsoft.Resources/resourceGroups",
  gallery: "Microsoft.Compute/galleries",
  image: "Microsoft.Compute/galleries/images",
  application: "Microsoft.Compute/galleries/applications",
  imageVersion: "Microsoft.Compute/galleries/images/versions",
  applicationVersion: "Microsoft.Compute/galleries/applications/versions",
  disk: "Microsoft.Compute/disks",
  snapshot: "Microsoft.Compute/snapshots",
} as const;

export type ResourceType = (typeof TYPES)[keyof typeof TYPES];

export const keyOf = (id: string) => id.toLowerCase();

/** Subscription, tenant and client ids are GUIDs in their 8-4-4-4-12 hex form. */
export const isGuid = (s: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

export const resourceGroupId = (subscriptionId: string, resourceGroup: string) =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;

/** Where a resource sits: its group, and the chain of names from the top-level resource down. */
export interface ResourcePath {
  subscriptionId: string;
  resourceGroup: string;
  /** Names from the top-level resource down to this one, e.g. [gallery, image]. */
  names: string[];
}

/** `Microsoft.Compute/galleries/images` → [`galleries`, `images`]: one segment per name. */
const segmentsOf = (type: ResourceType) => type.split("/").slice(1);

export function idOf(type: ResourceType, path: ResourcePath): string {
  const group = resourceGroupId(path.subscriptionId, path.resourceGroup);
  if (type === TYPES.resourceGroup) return group;
  const [namespace] = type.split("/");
  const tail = segmentsOf(type).map((segment, i) => `${segment}/${path.names[i]}`);
  return `${group}/providers/${namespace}/${tail.join("/")}`;
}

/** The type one level up: a gallery for a definition, the resource group for a gallery. */
export function parentTypeOf(type: ResourceType): ResourceType {
  const parts = type.split("/");
  return parts.length <= 2 ? TYPES.resourceGroup : (parts.slice(0, -1).join("/") as ResourceType);
}

/** The id of the resource one level up. */
export function parentIdOf(type: ResourceType, path: ResourcePath): string {
  return idOf(parentTypeOf(type), { ...path, names: path.names.slice(0, -1) });
}
