/**
 * Access tokens: RS256 JWTs signed with a key kept in the data dir, shaped like the tokens Entra ID
 * issues for ARM (aud, iss, tid, oid, appid, idtyp). Verification is cached per token until expiry,
 * so the per-request cost on the hot path is a map lookup.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  errors as joseErrors,
  type JWK,
} from "jose";
import { DomainError } from "../domain/errors.js";
import type { PrincipalRecord } from "../domain/resource.js";

export interface TokenClaims {
  tenantId: string;
  objectId: string;
  appId: string;
  audience: string;
  expiresAt: number;
}

/** Audiences ARM accepts, plus this server's own URL. */
const ARM_AUDIENCES = [
  "https://management.azure.com/",
  "https://management.azure.com",
  "https://management.core.windows.net/",
  "https://management.core.windows.net",
];

export class AuthenticationError extends DomainError {
  constructor(code: string, message: string) {
    super("unauthenticated", code, message);
  }
}

type SigningKey = Awaited<ReturnType<typeof importJWK>>;

export class TokenService {
  private readonly verified = new Map<string, TokenClaims>();
  private audiences = new Set(ARM_AUDIENCES);

  private constructor(
    private readonly privateKey: SigningKey,
    private readonly publicKey: SigningKey,
    readonly publicJwk: JWK,
    private readonly lifetimeSeconds: number,
  ) {}

  /** Tokens for this server's own URL are accepted too; it is known once it listens (port 0). */
  bind(publicUrl: string): void {
    this.audiences = new Set([...ARM_AUDIENCES, publicUrl, `${publicUrl}/`]);
    this.verified.clear();
  }

  static async open(keyFile: string, lifetimeSeconds: number) {
    let jwk: JWK;
    if (existsSync(keyFile)) {
      jwk = JSON.parse(readFileSync(keyFile, "utf8"));
    } else {
      const { privateKey } = await generateKeyPair("RS256", { extractable: true });
      jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: "RS256", use: "sig" };
      mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
      writeFileSync(keyFile, JSON.stringify(jwk), { mode: 0o600 });
    }
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
    return new TokenService(
      await importJWK(jwk, "RS256"),
      await importJWK(publicJwk, "RS256"),
      publicJwk,
      lifetimeSeconds,
    );
  }

  /**
   * The issuer claim, as Entra ID writes it into ARM tokens. It doesn't depend on the URL the
   * server listens at, so tokens survive a restart on another port.
   */
  issuerFor(tenantId: string): string {
    return `https://sts.windows.net/${tenantId}/`;
  }

  async issue(principal: PrincipalRecord, audience: string) {
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({
      tid: principal.tenantId,
      oid: principal.objectId,
      appid: principal.clientId,
      azp: principal.clientId,
      idtyp: "app",
      ver: "1.0",
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.publicJwk.kid })
      .setIssuer(this.issuerFor(principal.tenantId))
      .setSubject(principal.objectId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 300)
      .setExpirationTime(now + this.lifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { accessToken, expiresIn: this.lifetimeSeconds, expiresOn: now + this.lifetimeSeconds };
  }

  /** The claims of a token verified before and not expired since, without waiting. */
  cached(token: string): TokenClaims | undefined {
    const cached = this.verified.get(token);
    if (!cached) return undefined;
    if (cached.expiresAt * 1000 > Date.now()) return cached;
    this.verified.delete(token);
    return undefined;
  }

  async verify(token: string): Promise<TokenClaims> {
    const cached = this.cached(token);
    if (cached) return cached;
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, { algorithms: ["RS256"] }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        const exp = new Date(Number(err.payload.exp) * 1000).toISOString();
        throw new AuthenticationError(
          "ExpiredAuthenticationToken",
          `The access token expiry UTC time '${exp}' is earlier than current UTC time '${new Date().toISOString()}'.`,
        );
      }
      throw new AuthenticationError("InvalidAuthenticationToken", "The access token is invalid.");
    }
    const audience = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
    if (!audience || !this.audiences.has(audience)) {
      throw new AuthenticationError(
        "InvalidAuthenticationTokenAudience",
        `The access token has been obtained for wrong audience or resource '${audience ?? ""}'. It should exactly match with one of the allowed audiences '${[...this.audiences].join("','")}'.`,
      );
    }
    const tenantId = String(payload.tid ?? "");
    if (!tenantId || payload.iss !== this.issuerFor(tenantId)) {
      throw new AuthenticationError(
        "InvalidAuthenticationTokenIssuer",
        `The access token is from the wrong issuer '${String(payload.iss)}'.`,
      );
    }
    const claims: TokenClaims = {
      tenantId,
      objectId: String(payload.oid ?? payload.sub),
      appId: String(payload.appid ?? ""),
      audience,
      expiresAt: Number(payload.exp),
    };
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }
}
