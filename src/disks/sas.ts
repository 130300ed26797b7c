/**
 * Access URLs of disks: `https://<host>/<account>/<container>/<blob>?<sas>`, as Azure hands out
 * for managed disks. The SAS is an HMAC-SHA256 (key kept in the data dir) over the path, the
 * resource, the grant id, the permission and the expiry, so a URL cannot be altered or extended;
 * the grant id ties it to one grant, so revoking the grant (endGetAccess) kills the URL.
 *
 * `si` carries the resource key (base64url) and the grant id: a URL names what it opens.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface SasClaims {
  resourceKey: string;
  grantId: string;
  /** "r" (Read) or "rw" (Write grants may read back what was written). */
  permission: "r" | "rw";
  expiresAt: Date;
}

export interface BlobPath {
  account: string;
  container: string;
  blob: string;
}

/** Why a SAS was refused (for Azure's AuthenticationErrorDetail). */
export class SasError extends Error {}

const SIGNED_VERSION = "2018-03-28";

export class SasSigner {
  private constructor(private readonly key: Buffer) {}

  /** Loads the signing key from `file`, creating it (mode 0600) on first use. */
  static open(file: string): SasSigner {
    try {
      return new SasSigner(Buffer.from(readFileSync(file, "utf8").trim(), "base64"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    writeFileSync(file, key.toString("base64"), { mode: 0o600, flag: "wx" });
    return new SasSigner(key);
  }

  /** Where a resource's blob lives: a stable, opaque path derived from its unique id. */
  pathOf(uniqueId: string): BlobPath {
    const digest = createHash("sha256").update(uniqueId).digest("hex");
    return { account: `md-${digest.slice(0, 12)}`, container: digest.slice(12, 24), blob: "abcd" };
  }

  /** The query string (without `?`) of a URL granting `claims` on `path`. */
  sign(path: BlobPath, claims: SasClaims): string {
    const si = `${Buffer.from(claims.resourceKey, "utf8").toString("base64url")}.${claims.grantId}`;
    const se = claims.expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z");
    const sig = this.mac(path, si, claims.permission, se);
    const q = new URLSearchParams({
      sv: SIGNED_VERSION,
      sr: "b",
      si,
      sp: claims.permission,
      se,
      sig,
    });
    return q.toString();
  }

  /** The claims of a query string for `path`; throws `SasError` when forged, altered or expired. */
  verify(path: BlobPath, query: Record<string, unknown>, now = new Date()): SasClaims {
    const { si, sp, se, sig } = query;
    if (
      typeof si !== "string" ||
      typeof sp !== "string" ||
      typeof se !== "string" ||
      typeof sig !== "string"
    ) {
      throw new SasError("The request carries no shared access signature (sig, si, sp, se).");
    }
    const expected = Buffer.from(this.mac(path, si, sp, se), "utf8");
    const given = Buffer.from(sig, "utf8");
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new SasError(
        `Signature did not match. String to sign used was ${sp}\n\n${se}\n/blob/${path.account}/${path.container}/${path.blob}\n${si}`,
      );
    }
    const expiresAt = new Date(se);
    if (!(expiresAt.getTime() > now.getTime())) {
      throw new SasError(
        `Signed expiry time [${expiresAt.toUTCString()}] must be after signed start time [${now.toUTCString()}]`,
      );
    }
    const [key, grantId] = si.split(".");
    if (!key || !grantId || (sp !== "r" && sp !== "rw"))
      throw new SasError("Malformed signed identifier.");
    return {
      resourceKey: Buffer.from(key, "base64url").toString("utf8"),
      grantId,
      permission: sp,
      expiresAt,
    };
  }

  private mac(path: BlobPath, si: string, sp: string, se: string): string {
    return createHmac("sha256", this.key)
      .update([path.account, path.container, path.blob, si, sp, se].join("\n"))
      .digest("base64url");
  }
}
