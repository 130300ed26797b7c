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
} as const;

export type ResourceType = (typeof TYPES)[keyof typeof TYPES];

export const keyOf = (id: string) => id.toLowerCase();

export const resourceGroupId = (subscriptionId: string, resourceGroup: string) =>
  `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;

export const galleryId = (subscriptionId: string, resourceGroup: string, gallery: string) =>
  `${resourceGroupId(subscriptionId, resourceGroup)}/providers/${COMPUTE}/galleries/${gallery}`;

/** Where a resource sits: its group, and the chain of names from the gallery down. */
export interface ResourcePath {
  subscriptionId: string;
  resourceGroup: string;
  /** Names from the top-level resource down to this one, e.g. [gallery, image]. */
  names: string[];
}

const CHILD_SEGMENT: Partial<Record<ResourceType, string>> = {
  [TYPES.image]: "images",
  [TYPES.application]: "applications",
};

export function idOf(type: ResourceType, path: ResourcePath): string {
  if (type === TYPES.resourceGroup) return resourceGroupId(path.subscriptionId, path.resourceGroup);
  const [gallery, child] = path.names;
  const base = galleryId(path.subscriptionId, path.resourceGroup, gallery!);
  const segment = CHILD_SEGMENT[type];
  return segment ? `${base}/${segment}/${child}` : base;
}

/** The id of the resource one level up (a gallery for a definition, the group for a gallery). */
export function parentIdOf(type: ResourceType, path: ResourcePath): string {
  if (type === TYPES.gallery) return resourceGroupId(path.subscriptionId, path.resourceGroup);
  return galleryId(path.subscriptionId, path.resourceGroup, path.names[0]!);
}
