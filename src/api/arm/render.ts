/**
 * Domain records → ARM JSON, in Azure's key order (`name, id, type, location, tags, properties`).
 * `provisioningState` is what the answer should say (Creating on a new PUT, Updating on a replace),
 * or null for kinds that have none (gallery applications).
 */
import type { ResourceRecord } from "../../domain/resource.js";
import { armTime } from "./timestamps.js";

const SYSTEM_DATA_FROM = "2024-03-03";

export interface RenderOptions {
  apiVersion: string;
  provisioningState: string | null;
  propertyOrder: readonly string[];
  /** Top-level members between `tags` and `properties`, e.g. a disk's `sku`. */
  envelope?: Record<string, unknown>;
}

function ordered(properties: Record<string, unknown>, order: readonly string[]) {
  const out: Record<string, unknown> = {};
  for (const key of order) if (properties[key] !== undefined) out[key] = properties[key];
  for (const [key, value] of Object.entries(properties)) if (!(key in out)) out[key] = value;
  return out;
}

export function renderResource(record: ResourceRecord, options: RenderOptions) {
  // One ordering pass: provisioningState takes its place in the order like any other property.
  const properties =
    options.provisioningState === null
      ? record.properties
      : { ...record.properties, provisioningState: options.provisioningState };
  const out: Record<string, unknown> = {
    name: record.name,
    id: record.id,
    type: record.type,
    location: record.location,
  };
  if (record.tags !== undefined) out.tags = record.tags;
  Object.assign(out, options.envelope);
  out.properties = ordered(properties, options.propertyOrder);
  if (options.apiVersion >= SYSTEM_DATA_FROM) {
    const s = record.systemData;
    out.systemData = {
      ...s,
      createdAt: armTime(s.createdAt),
      lastModifiedAt: armTime(s.lastModifiedAt),
    };
  }
  return out;
}
