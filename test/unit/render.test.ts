/**
 * renderResource puts properties in Azure's key order in one pass over the properties; this holds
 * it to the plain definition of that order (below, `reference`) over random records, with the keys
 * that objects treat specially (array indices, Object.prototype's names, `__proto__`) and values
 * left undefined. A failure prints its seed; replay it with OCG_FC_SEED=<seed>.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { renderResource, type RenderOptions } from "../../src/api/arm/render.js";
import { armTime } from "../../src/api/arm/timestamps.js";
import type { ResourceRecord } from "../../src/domain/resource.js";

/** The order as first written: listed keys that have a value, then the rest as they come. */
function reference(record: ResourceRecord, options: RenderOptions) {
  const properties: Record<string, unknown> =
    options.provisioningState === null
      ? record.properties
      : { ...record.properties, provisioningState: options.provisioningState };
  const ordered: Record<string, unknown> = {};
  for (const key of options.propertyOrder) {
    if (properties[key] !== undefined) ordered[key] = properties[key];
  }
  for (const [key, value] of Object.entries(properties))
    if (!(key in ordered)) ordered[key] = value;
  const out: Record<string, unknown> = {
    name: record.name,
    id: record.id,
    type: record.type,
    location: record.location,
  };
  if (record.tags !== undefined) out.tags = record.tags;
  Object.assign(out, options.envelope);
  out.properties = ordered;
  if (options.apiVersion >= "2024-03-03") {
    const s = record.systemData;
    out.systemData = {
      ...s,
      createdAt: armTime(s.createdAt),
      lastModifiedAt: armTime(s.lastModifiedAt),
    };
  }
  return out;
}

const ORDER = ["description", "eula", "osType", "identifier", "features", "provisioningState"];
const key = fc.oneof(
  fc.constantFrom(...ORDER, "0", "7", "10", "constructor", "toString", "__proto__", "a", "b"),
  fc.string({ maxLength: 6 }),
);
// Through JSON, as records come from the store: `__proto__` is then an own key.
const object = (value: fc.Arbitrary<unknown>) =>
  fc
    .array(fc.tuple(key, value), { maxLength: 8 })
    .map(
      (entries) =>
        JSON.parse(JSON.stringify(Object.fromEntries(entries))) as Record<string, unknown>,
    );
const properties = fc.oneof(
  object(fc.jsonValue({ maxDepth: 2 })),
  object(fc.jsonValue({ maxDepth: 2 })).map((p) => ({ ...p, eula: undefined, extra: undefined })),
);

/** Keys and values in order, all the way down (deepEqual does not compare key order). */
const entries = (value: unknown): unknown =>
  value !== null && typeof value === "object"
    ? Array.isArray(value)
      ? value.map(entries)
      : Object.entries(value).map(([k, v]) => [k, entries(v)])
    : value;

test("renderResource orders properties as the plain definition does", () => {
  const seed = process.env.OCG_FC_SEED ? Number(process.env.OCG_FC_SEED) : undefined;
  fc.assert(
    fc.property(
      properties,
      fc.option(object(fc.string()), { nil: undefined }),
      fc.constantFrom("Succeeded", "Creating", null),
      fc.constantFrom("2021-07-01", "2024-03-03"),
      fc.option(fc.constant({ sku: { name: "Standard_LRS" } }), { nil: undefined }),
      (props, tags, provisioningState, apiVersion, envelope) => {
        const record = {
          key: "k",
          id: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/x",
          subscriptionId: "s",
          resourceGroup: "g",
          type: "Microsoft.Compute/galleries",
          parentKey: null,
          name: "x",
          location: "eastus",
          tags,
          properties: props,
          uniqueKey: null,
          systemData: {
            createdBy: "a",
            createdByType: "Application",
            createdAt: "2024-01-02T03:04:05.678Z",
            lastModifiedBy: "a",
            lastModifiedByType: "Application",
            lastModifiedAt: "2024-01-02T03:04:05.678Z",
          },
        } as ResourceRecord;
        const options = { apiVersion, provisioningState, propertyOrder: ORDER, envelope };
        const got = renderResource(record, options);
        const want = reference(record, options);
        assert.deepEqual(entries(got), entries(want));
        assert.equal(JSON.stringify(got), JSON.stringify(want));
      },
    ),
    { numRuns: 5000, seed },
  );
});
