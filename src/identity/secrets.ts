/**
 * Client secrets are kept only as salted hashes; comparison is constant-time.
 *
 * SHA-256 rather than a password hash: every secret is made here, 240 random bits, so there is no
 * dictionary to slow down and a fast hash is as strong as a slow one (as for API tokens). scrypt,
 * used before, cost 16 MB of work memory per token request, which the thread pool's malloc arenas
 * then kept; hashes made by earlier versions are still scrypt and still verify.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export function newClientSecret(): string {
  return randomBytes(30).toString("base64url");
}

const sha256 = (salt: Buffer, secret: string) =>
  createHash("sha256").update(salt).update(secret, "utf8").digest();

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `sha256$${salt.toString("base64url")}$${sha256(salt, secret).toString("base64url")}`;
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [scheme, saltText, hashText] = stored.split("$");
  if (!saltText || !hashText) return false;
  const salt = Buffer.from(saltText, "base64url");
  const expected = Buffer.from(hashText, "base64url");
  let actual: Buffer;
  if (scheme === "sha256") actual = sha256(salt, secret);
  else if (scheme === "scrypt") actual = await scryptAsync(secret, salt, expected.length);
  else return false;
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
