/**
 * The regions this installation serves, their availability zones and storage locations, and the
 * rules that use them: where a replica or a disk is placed, and which subscriptions may deploy in a
 * restricted region. ARM accepts a region by short name (`eastus`) or display name (`East US`) in
 * any casing; resources store the short name.
 *
 * A storage location is one directory of chunks (`blobs/`): one per zone of a zoned region
 * (`eastus-1`, `eastus-2`, …), one for a region without zones (`westus`).
 */
import { join } from "node:path";
import { ValidationError } from "./errors.js";
import type { RegionAccessRepository } from "./resource.js";

const KNOWN_DISPLAY_NAMES: Record<string, string> = {
  eastus: "East US",
  eastus2: "East US 2",
  westus: "West US",
  westus2: "West US 2",
  westus3: "West US 3",
  centralus: "Central US",
  northcentralus: "North Central US",
  southcentralus: "South Central US",
  westcentralus: "West Central US",
  centraluseuap: "Central US EUAP",
  eastus2euap: "East US 2 EUAP",
  canadacentral: "Canada Central",
  brazilsouth: "Brazil South",
  northeurope: "North Europe",
  westeurope: "West Europe",
  uksouth: "UK South",
  ukwest: "UK West",
  francecentral: "France Central",
  germanywestcentral: "Germany West Central",
  swedencentral: "Sweden Central",
  switzerlandnorth: "Switzerland North",
  norwayeast: "Norway East",
  australiacentral: "Australia Central",
  australiaeast: "Australia East",
  southeastasia: "Southeast Asia",
  eastasia: "East Asia",
  japaneast: "Japan East",
  koreacentral: "Korea Central",
  centralindia: "Central India",
  southafricanorth: "South Africa North",
  uaenorth: "UAE North",
};

export interface Region {
  name: string;
  displayName: string;
  /** Availability zones, in order ("1","2","3"); empty for a region without zones. */
  zones: string[];
  /** Subscriptions need an operator's grant to deploy here. */
  restricted: boolean;
}

/** One place chunks are stored: a zone of a region, or a zoneless region as a whole. */
export interface StorageLocation {
  /** `<region>-<zone>`, or the region's name when it has no zones. */
  id: string;
  region: string;
  zone: string | null;
  /** Directory of the location's chunk store. */
  path: string;
}

/** A region as configured (see `config.ts`). */
export interface RegionSettings {
  name: string;
  displayName?: string;
  zones?: string[];
  restricted?: boolean;
  /** Directory per zone (or `default` for a region without zones). */
  storage?: Record<string, string>;
}

/** The id of a storage location. */
export const storageLocationIdOf = (region: string, zone: string | null) =>
  zone === null ? region : `${region}-${zone}`;

/** Storage account types that keep a copy in every zone of the region. */
export const isZoneRedundant = (storageAccountType: string) => /_ZRS$/i.test(storageAccountType);

export class RegionCatalog {
  readonly regions: Region[];
  private readonly byKey = new Map<string, Region>();
  private readonly locationsByRegion = new Map<string, StorageLocation[]>();
  private readonly locationsById = new Map<string, StorageLocation>();

  /**
   * `dataDir` places the storage locations that `settings` give no directory
   * (`<dataDir>/blobs/<id>`); `loadConfig` fills them all in.
   */
  constructor(configured: RegionSettings[], options: { dataDir?: string } = {}) {
    this.regions = configured.map((r) => ({
      name: r.name,
      displayName: r.displayName ?? KNOWN_DISPLAY_NAMES[r.name] ?? r.name,
      zones: [...(r.zones ?? [])],
      restricted: r.restricted ?? false,
    }));
    configured.forEach((settings, i) => {
      const r = this.regions[i]!;
      this.byKey.set(r.name, r);
      this.byKey.set(squash(r.displayName), r);
      const zones: (string | null)[] = r.zones.length > 0 ? r.zones : [null];
      const locations = zones.map((zone) => {
        const id = storageLocationIdOf(r.name, zone);
        const path =
          settings.storage?.[zone ?? "default"] ?? join(options.dataDir ?? ".", "blobs", id);
        return { id, region: r.name, zone, path };
      });
      this.locationsByRegion.set(r.name, locations);
      for (const l of locations) this.locationsById.set(l.id, l);
    });
  }

  find(nameOrDisplayName: string): Region | undefined {
    return this.byKey.get(squash(nameOrDisplayName));
  }

  /** The region for a resource's `location`, or Azure's error for one we don't serve. */
  require(location: string, resourceType: string, target = "location"): Region {
    const region = this.find(location);
    if (!region) throw this.notAvailable(location, resourceType, target, this.regions);
    return region;
  }

  /** Whether the region has availability zones. */
  isZonal(region: string): boolean {
    return (this.find(region)?.zones.length ?? 0) > 0;
  }

  /** The storage locations of a region: one per zone, in zone order, or its single one. */
  storageLocations(region: string): StorageLocation[] {
    const r = this.find(region);
    return r ? this.locationsByRegion.get(r.name)! : [];
  }

  /** A storage location by id (`eastus-2`, `westus`). */
  storageLocation(id: string): StorageLocation | undefined {
    return this.locationsById.get(id);
  }

  /** Every storage location of every region. */
  allStorageLocations(): StorageLocation[] {
    return [...this.locationsById.values()];
  }

  /**
   * Where replica number `ordinal` (0, 1, …) of an image in `region` is stored, as storage
   * location ids. Zone-redundant types (`Standard_ZRS`) are stored in every zone and refused in a
   * region without zones; the others (`Standard_LRS`, `Premium_LRS`, `PremiumV2_LRS`) in one zone,
   * replicas spread round-robin over the zones (ordinal 0 → the first zone, 1 → the second, …).
   * `target` names the property in the error (e.g. `publishingProfile.targetRegions[2].storageAccountType`).
   */
  placeReplica(
    region: string,
    ordinal: number,
    storageAccountType: string,
    target = "storageAccountType",
  ): string[] {
    if (!Number.isSafeInteger(ordinal) || ordinal < 0) {
      throw new RangeError(`a replica ordinal is a non-negative integer, got ${ordinal}`);
    }
    const r = this.require(region, "Microsoft.Compute/galleries/images/versions");
    const locations = this.locationsByRegion.get(r.name)!;
    if (isZoneRedundant(storageAccountType)) {
      if (r.zones.length === 0) {
        throw new ValidationError(
          "InvalidParameter",
          `Storage account type '${storageAccountType}' is not supported in region '${r.name}': the region has no availability zones. Use a locally redundant type such as 'Standard_LRS', or a region with availability zones.`,
          target,
        );
      }
      return locations.map((l) => l.id);
    }
    return [locations[ordinal % locations.length]!.id];
  }

  /**
   * The storage location of a new disk or snapshot in `region`: the zone it names (`zones`, at
   * most one), else the region's first zone, else the region's single location. Azure's errors
   * for several zones, or a zone the region doesn't have, name `target`.
   */
  diskStorageLocation(
    region: string,
    zones: readonly string[] | undefined,
    options: { resourceId?: string; resourceType?: string; target?: string } = {},
  ): StorageLocation {
    const { target = "zones", resourceType = "disks" } = options;
    const r = this.require(region, `Microsoft.Compute/${resourceType}`);
    const locations = this.locationsByRegion.get(r.name)!;
    if (!zones || zones.length === 0) return locations[0]!;
    if (zones.length > 1) {
      throw new ValidationError(
        "ResourceTypeNotSupportMultiZones",
        `The resource type '${resourceType}' does not support multiple availability zones. The provided zones are '${zones.join(",")}'. Please provide a single availability zone.`,
        target,
      );
    }
    const found = locations.find((l) => l.zone !== null && l.zone === zones[0]);
    if (!found) {
      const what = options.resourceId ?? `Microsoft.Compute/${resourceType}`;
      throw new ValidationError(
        "AvailabilityZoneNotSupported",
        `The zone(s) '${zones.join(",")}' for resource '${what}' is not supported. The supported zones for location '${r.name}' are '${r.zones.join(",")}'.`,
        target,
      );
    }
    return found;
  }

  /**
   * The region for a new resource's `location` (or an image version's target region) in
   * `subscriptionId`, checked: a region we serve and, when restricted, one the subscription was
   * granted. A subscription without access gets the answer Azure gives for a location that isn't
   * enabled for it: `LocationNotAvailableForResourceType`, listing the regions it may use.
   */
  async requireAccess(
    grants: Pick<RegionAccessRepository, "has">,
    subscriptionId: string,
    location: string,
    options: { target?: string; resourceType?: string } = {},
  ): Promise<Region> {
    const { target = "location", resourceType = "Microsoft.Compute/galleries" } = options;
    const region = this.require(location, resourceType, target);
    if (!region.restricted || (await grants.has(subscriptionId, region.name))) return region;
    const available: Region[] = [];
    for (const r of this.regions) {
      if (!r.restricted || (await grants.has(subscriptionId, r.name))) available.push(r);
    }
    throw this.notAvailable(location, resourceType, target, available);
  }

  private notAvailable(location: string, resourceType: string, target: string, list: Region[]) {
    return new ValidationError(
      "LocationNotAvailableForResourceType",
      `The provided location '${location}' is not available for resource type '${resourceType}'. List of available regions for the resource type is '${list.map((r) => r.name).join(",")}'.`,
      target,
    );
  }
}

const squash = (s: string) => s.replace(/\s+/g, "").toLowerCase();
