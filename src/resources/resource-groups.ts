/**
 * Resource groups (Microsoft.Resources). Deleting a group deletes everything in it, in one
 * transaction, so a reader sees either all of it or none of it.
 */
import { NotFoundError, ValidationError } from "../domain/errors.js";
import { keyOf, resourceGroupId, TYPES } from "../domain/ids.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord, Store } from "../domain/resource.js";
import { checkTags, systemData, type WriteContext } from "../domain/resource-service.js";

const NAME = /^[-\w._()\p{L}\p{N}]{1,90}$/u;

export function checkResourceGroupName(name: string): void {
  if (!NAME.test(name) || name.endsWith(".")) {
    throw new ValidationError(
      "InvalidResourceGroupName",
      `Resource group name '${name.slice(0, 100)}' is invalid. It must be 1-90 characters of letters, digits, '_', '-', '.', '(' and ')', and must not end in '.'.`,
      "resourceGroupName",
    );
  }
}

export class ResourceGroupService {
  constructor(
    private readonly store: Store,
    private readonly regions: RegionCatalog,
  ) {}

  async put(
    subscriptionId: string,
    name: string,
    input: { location: string; tags?: Record<string, string>; managedBy?: string },
    ctx: WriteContext,
  ) {
    checkResourceGroupName(name);
    checkTags(input.tags);
    const region = this.regions.require(input.location, TYPES.resourceGroup);
    const id = resourceGroupId(subscriptionId, name);
    return this.store.transaction(async (tx) => {
      const existing = await tx.resources.get(keyOf(id));
      if (existing) {
        if (existing.location !== region.name) {
          throw new ValidationError(
            "InvalidResourceGroupLocation",
            `Invalid resource group location '${region.name}'. The Resource group already exists in location '${existing.location}'.`,
            "location",
          );
        }
        const record: ResourceRecord = {
          ...existing,
          tags: input.tags ?? {},
          properties: input.managedBy ? { managedBy: input.managedBy } : {},
        };
        await tx.resources.update(record);
        return { record, created: false };
      }
      const record: ResourceRecord = {
        key: keyOf(id),
        id,
        subscriptionId,
        resourceGroup: name,
        type: TYPES.resourceGroup,
        parentKey: null,
        name,
        location: region.name,
        tags: input.tags ?? {},
        properties: input.managedBy ? { managedBy: input.managedBy } : {},
        uniqueKey: null,
        systemData: systemData(ctx),
      };
      await tx.resources.insert(record);
      return { record, created: true };
    });
  }

  async get(subscriptionId: string, name: string): Promise<ResourceRecord> {
    const record = await this.store.resources.get(keyOf(resourceGroupId(subscriptionId, name)));
    if (!record) throw notFound(name);
    return record;
  }

  async exists(subscriptionId: string, name: string): Promise<boolean> {
    return !!(await this.store.resources.get(keyOf(resourceGroupId(subscriptionId, name))));
  }

  async patch(
    subscriptionId: string,
    name: string,
    input: { tags?: Record<string, string> },
  ): Promise<ResourceRecord> {
    checkTags(input.tags);
    return this.store.transaction(async (tx) => {
      const existing = await tx.resources.get(keyOf(resourceGroupId(subscriptionId, name)));
      if (!existing) throw notFound(name);
      const record = { ...existing, tags: input.tags ?? existing.tags };
      await tx.resources.update(record);
      return record;
    });
  }

  /** Deletes the group and all it holds; throws when there is no such group. */
  async delete(subscriptionId: string, name: string): Promise<number> {
    return this.store.transaction(async (tx) => {
      const existing = await tx.resources.get(keyOf(resourceGroupId(subscriptionId, name)));
      if (!existing) throw notFound(name);
      // Content and replicas of what the group held go with it; their chunks are then
      // unreferenced and garbage collection reclaims them.
      const prefix = `${existing.key}/`;
      // Replicas before manifests, as a version's deletion does (see VersionService.delete).
      await tx.replicas.deleteByPrefix(prefix);
      await tx.manifests.deleteByPrefix(prefix);
      return tx.resources.deleteResourceGroup(subscriptionId, existing.resourceGroup);
    });
  }

  list(subscriptionId: string, page: { continuation?: string; limit: number }) {
    return this.store.resources.listBySubscription(subscriptionId, TYPES.resourceGroup, page);
  }
}

function notFound(name: string) {
  return new NotFoundError(
    "ResourceGroupNotFound",
    `Resource group '${name}' could not be found.`,
    "resourceGroupName",
  );
}
