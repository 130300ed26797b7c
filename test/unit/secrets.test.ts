import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import { test } from "node:test";
import { hashSecret, newClientSecret, verifySecret } from "../../src/identity/secrets.js";

test("a secret verifies against its hash and no other secret does", async () => {
  const secret = newClientSecret();
  const stored = await hashSecret(secret);
  assert.ok(!stored.includes(secret));
  assert.equal(await verifySecret(secret, stored), true);
  assert.equal(await verifySecret(newClientSecret(), stored), false);
  assert.equal(await verifySecret(secret.slice(0, -1), stored), false);
  // Salted: the same secret hashes differently each time.
  assert.notEqual(await hashSecret(secret), stored);
});

test("hashes written by earlier versions (scrypt) still verify", async () => {
  const secret = newClientSecret();
  const salt = randomBytes(16);
  const stored = `scrypt$${salt.toString("base64url")}$${scryptSync(secret, salt, 32).toString("base64url")}`;
  assert.equal(await verifySecret(secret, stored), true);
  assert.equal(await verifySecret(newClientSecret(), stored), false);
});

test("a malformed or unknown stored hash never verifies", async () => {
  const secret = newClientSecret();
  const [, salt, hash] = (await hashSecret(secret)).split("$");
  for (const stored of [
    "",
    "sha256",
    `sha256$${salt}`,
    `md5$${salt}$${hash}`,
    `sha256$${salt}$AAAA`,
  ])
    assert.equal(await verifySecret(secret, stored), false, stored);
});
