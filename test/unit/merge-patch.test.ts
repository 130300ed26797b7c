/** PATCH semantics: objects merge, arrays and scalars replace, null removes (RFC 7396). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { pathToTarget } from "../../src/api/arm/errors.js";
import { mergePatch } from "../../src/domain/resource-service.js";

test("merge patch", () => {
  const before = {
    description: "a",
    identifier: { publisher: "p", offer: "o" },
    features: [{ name: "x" }],
    eula: "e",
  };
  assert.deepEqual(
    mergePatch(before, { description: "b", identifier: { offer: "o2" }, features: [], eula: null }),
    {
      description: "b",
      identifier: { publisher: "p", offer: "o2" },
      features: [],
    },
  );
  assert.deepEqual(before.identifier, { publisher: "p", offer: "o" }, "the target is not mutated");
  assert.deepEqual(mergePatch({ a: 1 }, {}), { a: 1 });
});

test("validation paths become ARM targets", () => {
  assert.equal(pathToTarget("/properties/osType"), "properties.osType");
  assert.equal(pathToTarget("/properties/features/0/name"), "properties.features[0].name");
  assert.equal(pathToTarget("/properties/identifier", "sku"), "properties.identifier.sku");
  assert.equal(pathToTarget("/tags/a~1b"), "tags.a/b");
});
