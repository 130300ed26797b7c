/**
 * The regions this installation serves. ARM accepts a region by short name (`eastus`) or display
 * name (`East US`) in any casing; resources store the short name.
 */
import { ValidationError } from "./errors.js";

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
}

export class RegionCatalog {
  readonly regions: Region[];
  private readonly byKey = new Map<string, Region>();

  constructor(configured: { name: string; displayName?: string }[]) {
    this.regions = configured.map((r) => ({
      name: r.name,
      displayName: r.displayName ?? KNOWN_DISPLAY_NAMES[r.name] ?? r.name,
    }));
    for (const r of this.regions) {
      this.byKey.set(r.name, r);
      this.byKey.set(squash(r.displayName), r);
    }
  }

  find(nameOrDisplayName: string): Region | undefined {
    return this.byKey.get(squash(nameOrDisplayName));
  }

  /** The region for a resource's `location`, or Azure's error for one we don't serve. */
  require(location: string, resourceType: string, target = "location"): Region {
    const region = this.find(location);
    if (!region) {
      throw new ValidationError(
        "LocationNotAvailableForResourceType",
        `The provided location '${location}' is not available for resource type '${resourceType}'. List of available regions for the resource type is '${this.regions.map((r) => r.name).join(",")}'.`,
        target,
      );
    }
    return region;
  }
}

const squash = (s: string) => s.replace(/\s+/g, "").toLowerCase();
