/**
 * The life cycle every tracked resource shares: create-or-replace, merge-update, get, delete, list,
 * with the checks ARM makes in order (resource group, parent, name, location, access to a
 * restricted region, quota, uniqueness).
 * Each kind plugs its own rules in through `KindRules`. Every write is one transaction: a rejected
 * request changes nothing.
 */
import { ConflictError, NotFoundError, QuotaError, ValidationError } from "./errors.js";
import {
  idOf,
  keyOf,
  parentIdOf,
  parentTypeOf,
  TYPES,
  type ResourcePath,
  type ResourceType,
} from "./ids.js";
import type { RegionCatalog } from "./regions.js";
import type { Actor, Page, ResourceRecord, Store, SystemData } from "./resource.js";

export type Properties = Record<string, unknown>;

export interface WriteContext {
  actor: Actor;
  /** The api-version the client spoke: some defaults depend on it. */
  apiVersion: string;
  now: Date;
}

export interface KindRules {
  type: ResourceType;
  /** Name of the path parameter, as Azure names it in errors (`galleryName`). */
  nameParameter: string;
  /** The parent's path parameter, named when the parent is missing (default `galleryName`). */
  parentParameter?: string;
  /** Throws a ValidationError naming the parameter when the name breaks the kind's rule. */
  checkName(name: string): void;
  /** Properties of a new resource, with defaults filled; throws on bad input. */
  create(
    input: Properties,
    ctx: WriteContext & { path: ResourcePath; location: string },
  ): Properties;
  /** Properties after a full PUT over `existing`; refuses changes to immutable properties. */
  replace(existing: ResourceRecord, input: Properties, ctx: WriteContext): Properties;
  /** A store-wide unique value derived from the properties, if the kind has one. */
  uniqueKey?(parentKey: string, properties: Properties): string | null;
  /** The error for a clash on `uniqueKey`. */
  uniqueConflict?(name: string, properties: Properties): ConflictError;
  /** Per-subscription, per-region count limit, with the noun Azure uses in its quota error. */
  quota?: { limit: number; noun: string };
}

export interface WriteInput {
  location: string;
  tags?: Record<string, string>;
  properties: Properties;
}

export interface PatchInput {
  tags?: Record<string, string>;
  properties?: Properties;
}

const MAX_TAGS = 50;
const TAG_NAME_RESERVED = /[<>%&\\?/\p{Cc}]/u;

export function checkTags(tags: Record<string, string> | undefined): void {
  if (!tags) return;
  const names = Object.keys(tags);
  if (names.length > MAX_TAGS) {
    throw new ValidationError(
      "InvalidTagCount",
      `The number of tags (${names.length}) exceeds the maximum of ${MAX_TAGS}.`,
      "tags",
    );
  }
  for (const name of names) {
    if (name.length === 0 || name.length > 512) {
      throw new ValidationError(
        "InvalidTagNameLength",
        `The tag name '${name.slice(0, 64)}' exceeds the maximum length of '512' characters or is empty.`,
        `tags.${name.slice(0, 64)}`,
      );
    }
    if (TAG_NAME_RESERVED.test(name)) {
      throw new ValidationError(
        "InvalidTagNameCharacters",
        `The tag names '${name}' have reserved characters '<,>,%,&,\\,?,/' or control characters.`,
        `tags.${name}`,
      );
    }
    if ((tags[name] ?? "").length > 256) {
      throw new ValidationError(
        "InvalidTagValueLength",
        `The tag value for tag name '${name}' exceeds the maximum length of '256' characters.`,
        `tags.${name}`,
      );
    }
  }
}

/** RFC 7396 merge: objects merge key by key, arrays and scalars replace, null removes. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete base[k];
    else base[k] = mergePatch(base[k], v);
  }
  return base;
}

export class ResourceService {
  constructor(
    private readonly store: Store,
    private readonly rules: KindRules,
    private readonly regions: RegionCatalog,
  ) {}

  get type(): ResourceType {
    return this.rules.type;
  }

  /** PUT: creates the resource or replaces it. `created` tells which (201 vs 200). */
  async put(path: ResourcePath, input: WriteInput, ctx: WriteContext) {
    const name = path.names.at(-1)!;
    this.rules.checkName(name);
    checkTags(input.tags);
    const region = this.regions.require(input.location, this.rules.type);
    return this.store.transaction(async (tx) => {
      const parent = await this.requireParent(tx, path);
      const id = idOf(this.rules.type, path);
      const existing = await tx.resources.get(keyOf(id));
      if (existing) {
        if (existing.location !== region.name) {
          throw new ValidationError(
            "InvalidResourceLocation",
            `The resource '${name}' already exists in location '${existing.location}' in resource group '${path.resourceGroup}'. A resource with the same name cannot be created in location '${region.name}'. Please select a new resource name.`,
            "location",
          );
        }
        const properties = this.rules.replace(existing, input.properties, ctx);
        const record = this.modified(existing, { tags: input.tags, properties }, ctx);
        await this.checkUnique(tx, record);
        await tx.resources.update(record);
        return { record, created: false };
      }
      await this.regions.requireAccess(tx.regionAccess, path.subscriptionId, input.location, {
        resourceType: this.rules.type,
      });
      await this.checkQuota(tx, path.subscriptionId, region.name);
      const properties = this.rules.create(input.properties, {
        ...ctx,
        path,
        location: region.name,
      });
      const record: ResourceRecord = {
        key: keyOf(id),
        id,
        subscriptionId: path.subscriptionId,
        resourceGroup: parent.resourceGroup,
        type: this.rules.type,
        parentKey: parent.key,
        name,
        location: region.name,
        tags: input.tags,
        properties,
        uniqueKey: null,
        systemData: systemData(ctx),
      };
      record.uniqueKey = this.rules.uniqueKey?.(parent.key, properties) ?? null;
      await this.checkUnique(tx, record);
      await tx.resources.insert(record);
      return { record, created: true };
    });
  }

  /** PATCH: tags replace wholesale when given; properties merge, then the PUT rules apply. */
  async patch(path: ResourcePath, input: PatchInput, ctx: WriteContext) {
    checkTags(input.tags);
    return this.store.transaction(async (tx) => {
      const existing = await this.require(tx, path);
      const merged = mergePatch(existing.properties, input.properties ?? {}) as Properties;
      const properties = this.rules.replace(existing, merged, ctx);
      const record = this.modified(
        existing,
        { tags: input.tags ?? existing.tags, properties },
        ctx,
      );
      await this.checkUnique(tx, record);
      await tx.resources.update(record);
      return record;
    });
  }

  get(path: ResourcePath): Promise<ResourceRecord> {
    return this.require(this.store, path);
  }

  /** The store key of the resource at `path` (the same for any casing of its names). */
  keyOf(path: ResourcePath): string {
    return keyOf(idOf(this.rules.type, path));
  }

  /** DELETE: the deleted record, or undefined when there was nothing (ARM then answers 204). */
  async delete(path: ResourcePath): Promise<ResourceRecord | undefined> {
    return this.store.transaction(async (tx) => {
      await this.requireResourceGroup(tx, path);
      const key = keyOf(idOf(this.rules.type, path));
      const existing = await tx.resources.get(key);
      if (!existing) return undefined;
      const children = await tx.resources.childNames(key, 5);
      if (children.length > 0) {
        const ids = children.join(", ");
        throw new ConflictError(
          "CannotDeleteResource",
          `Cannot delete resource while nested resources exist. Some existing nested resource IDs include: '${ids}'. Please delete all nested resources before deleting this resource.`,
        );
      }
      await tx.resources.delete(key);
      return existing;
    });
  }

  /**
   * Lists the kind under a parent: a gallery's children, or a group's galleries. `parentPath`
   * names the parent, i.e. every level but this kind's own.
   */
  async list(parentPath: ResourcePath, page: { continuation?: string; limit: number }) {
    const path = { ...parentPath, names: [...parentPath.names, ""] };
    await this.requireParent(this.store, path);
    const parentKey = keyOf(parentIdOf(this.rules.type, path));
    return this.store.resources.listChildren(parentKey, this.rules.type, page);
  }

  listBySubscription(subscriptionId: string, page: { continuation?: string; limit: number }) {
    return this.store.resources.listBySubscription(subscriptionId, this.rules.type, page);
  }

  private async requireResourceGroup(store: Store, path: ResourcePath) {
    const rg = await store.resources.get(keyOf(idOf(TYPES.resourceGroup, { ...path, names: [] })));
    if (!rg) {
      throw new NotFoundError(
        "ResourceGroupNotFound",
        `Resource group '${path.resourceGroup}' could not be found.`,
        "resourceGroupName",
      );
    }
    return rg;
  }

  private async requireParent(store: Store, path: ResourcePath): Promise<ResourceRecord> {
    const rg = await this.requireResourceGroup(store, path);
    const parentType = parentTypeOf(this.rules.type);
    if (parentType === TYPES.resourceGroup) return rg;
    const parentId = parentIdOf(this.rules.type, path);
    const parent = await store.resources.get(keyOf(parentId));
    if (!parent) {
      throw new NotFoundError(
        "ParentResourceNotFound",
        `Can not perform requested operation on nested resource. Parent resource '${path.names.slice(0, -1).join("/")}' not found.`,
        this.rules.parentParameter ?? "galleryName",
      );
    }
    return parent;
  }

  private async require(store: Store, path: ResourcePath): Promise<ResourceRecord> {
    // A resource that exists has its group and parent (they are created first, and neither can
    // be deleted while it exists), so only a miss needs them, to name what is missing — the hot
    // path of GET and PATCH is then one lookup instead of three.
    const record = await store.resources.get(keyOf(idOf(this.rules.type, path)));
    if (record) return record;
    // A nested resource under a missing gallery is ParentResourceNotFound, as on PUT.
    await this.requireParent(store, path);
    throw this.notFound(path);
  }

  notFound(path: ResourcePath): NotFoundError {
    // ARM names it from the namespace on: Microsoft.Compute/galleries/g/images/i
    const [namespace, ...segments] = this.rules.type.split("/");
    const named = segments.map((segment, i) => `${segment}/${path.names[i]}`).join("/");
    return new NotFoundError(
      "ResourceNotFound",
      `The Resource '${namespace}/${named}' under resource group '${path.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }

  private async checkQuota(tx: Store, subscriptionId: string, location: string) {
    const quota = this.rules.quota;
    if (!quota) return;
    const used = await tx.resources.countInRegion(subscriptionId, this.rules.type, location);
    if (used + 1 > quota.limit) {
      throw new QuotaError(
        "OperationNotAllowed",
        `Operation could not be completed as it results in exceeding approved ${quota.noun} quota. Location: ${location}, Current Limit: ${quota.limit}, Current Usage: ${used}, Additional Required: 1. Delete unused ${quota.noun} or raise the limit in the server configuration.`,
      );
    }
  }

  private async checkUnique(tx: Store, record: ResourceRecord) {
    if (!record.uniqueKey) return;
    const holder = await tx.resources.findByUniqueKey(record.uniqueKey);
    if (holder && holder.key !== record.key) {
      throw this.rules.uniqueConflict!(record.name, record.properties);
    }
  }

  private modified(
    existing: ResourceRecord,
    change: { tags: Record<string, string> | undefined; properties: Properties },
    ctx: WriteContext,
  ): ResourceRecord {
    const uniqueKey = this.rules.uniqueKey?.(existing.parentKey!, change.properties) ?? null;
    return {
      ...existing,
      tags: change.tags,
      properties: change.properties,
      uniqueKey,
      systemData: {
        ...existing.systemData,
        lastModifiedBy: ctx.actor.id,
        lastModifiedByType: ctx.actor.type,
        lastModifiedAt: ctx.now.toISOString(),
      },
    };
  }
}

export function systemData(ctx: WriteContext): SystemData {
  const at = ctx.now.toISOString();
  return {
    createdBy: ctx.actor.id,
    createdByType: ctx.actor.type,
    createdAt: at,
    lastModifiedBy: ctx.actor.id,
    lastModifiedByType: ctx.actor.type,
    lastModifiedAt: at,
  };
}

export type { Page };
