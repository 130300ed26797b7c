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

const ranks = new WeakMap<readonly string[], Map<string, number>>();

function rankOf(order: readonly string[]) {
  let rank = ranks.get(order);
  if (!rank) {
    const inherited = order.find((key) => key in Object.prototype);
    if (inherited) throw new Error(`'${inherited}' cannot be ordered: objects inherit it`);
    rank = new Map(order.map((key, i) => [key, i]));
    ranks.set(order, rank);
  }
  return rank;
}

/**
 * `properties` with `provisioningState` set to `state` (unless null), as an object whose keys are
 * the keys of `order` that have a value, in that order, then the other keys in their own order;
 * keys that objects inherit (`constructor`, `__proto__`, …) are left out. One pass over the
 * properties' own keys: looking each listed key up instead (most are absent), and copying the
 * properties to set the state, cost more than the rest of rendering.
 */
function ordered(
  properties: Record<string, unknown>,
  order: readonly string[],
  state: string | null,
) {
  const rank = rankOf(order);
  const listed: (string | undefined)[] = new Array<string | undefined>(order.length);
  const listedValues: unknown[] = new Array<unknown>(order.length);
  const rest: string[] = [];
  const restValues: unknown[] = [];
  let stateSeen = state === null;
  const place = (key: string, value: unknown) => {
    const at = rank.get(key);
    if (at !== undefined && value !== undefined) {
      listed[at] = key;
      listedValues[at] = value;
    } else if (!(key in Object.prototype)) {
      rest.push(key);
      restValues.push(value);
    }
  };
  for (const key of Object.keys(properties)) {
    if (key === "provisioningState" && state !== null) {
      stateSeen = true;
      place(key, state);
    } else place(key, properties[key]);
  }
  // A state the properties don't have comes after their own keys, as in `{ ...p, provisioningState }`.
  if (!stateSeen) place("provisioningState", state);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < listed.length; i++)
    if (listed[i] !== undefined) out[listed[i]!] = listedValues[i];
  for (let i = 0; i < rest.length; i++) out[rest[i]!] = restValues[i];
  return out;
}

export function renderResource(record: ResourceRecord, options: RenderOptions) {
  const out: Record<string, unknown> = {
    name: record.name,
    id: record.id,
    type: record.type,
    location: record.location,
  };
  if (record.tags !== undefined) out.tags = record.tags;
  if (options.envelope) Object.assign(out, options.envelope);
  out.properties = ordered(record.properties, options.propertyOrder, options.provisioningState);
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
