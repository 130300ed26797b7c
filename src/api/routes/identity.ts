/**
 * The server as its own identity provider, enough for MSAL (JS and Python): OIDC discovery in the
 * Entra ID shape (per tenant) and the AD FS shape (`/adfs`, which makes az skip Microsoft's
 * instance discovery), a client-credentials token endpoint, and the signing keys.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Store } from "../../domain/resource.js";
import { verifySecret } from "../../identity/secrets.js";
import type { TokenService } from "../../identity/tokens.js";
import { baseUrlOf } from "../arm/lro.js";
import { isGuid } from "../../domain/ids.js";

const TENANT_ALIASES = new Set(["common", "organizations", "consumers", "adfs"]);

function oauthError(reply: FastifyReply, status: number, error: string, description: string) {
  return reply.code(status).send({
    error,
    error_description: description,
    error_codes: [],
    timestamp: new Date().toISOString(),
  });
}

function discovery(base: string, tenant: string, v2: boolean) {
  const root = `${base}/${tenant}`;
  const oauth = v2 ? `${root}/oauth2/v2.0` : `${root}/oauth2`;
  return {
    issuer: tenant === "adfs" ? `${base}/adfs` : v2 ? `${root}/v2.0` : `${root}/`,
    token_endpoint: `${oauth}/token`,
    authorization_endpoint: `${oauth}/authorize`,
    end_session_endpoint: `${oauth}/logout`,
    device_authorization_endpoint: `${oauth}/devicecode`,
    jwks_uri: v2 ? `${root}/discovery/v2.0/keys` : `${root}/discovery/keys`,
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    response_modes_supported: ["query", "fragment", "form_post"],
    grant_types_supported: ["client_credentials"],
    subject_types_supported: ["pairwise"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
    cloud_instance_name: "ocg",
    tenant_region_scope: null,
  };
}

/** `https://management.azure.com//.default` (az) and `…/.default` (SDK) both mean ARM. */
function audienceOf(scope: string | undefined, resource: string | undefined): string | undefined {
  if (resource) return resource;
  const first = scope?.split(/\s+/).find((s) => s.endsWith("/.default"));
  if (!first) return undefined;
  const base = first.slice(0, -"/.default".length).replace(/\/+$/, "");
  return `${base}/`;
}

export function identityRoutes(app: FastifyInstance, deps: { store: Store; tokens: TokenService }) {
  app.addContentTypeParser(
    "application/x-www-form-urlencoded",
    { parseAs: "string" },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  const configuration = (v2: boolean) => async (request: FastifyRequest) => {
    const { tenant } = request.params as { tenant: string };
    return discovery(baseUrlOf(request), tenant, v2);
  };
  app.get("/:tenant/v2.0/.well-known/openid-configuration", configuration(true));
  app.get("/:tenant/.well-known/openid-configuration", configuration(false));
  app.get("/adfs/adfs/.well-known/openid-configuration", async (request) =>
    discovery(baseUrlOf(request), "adfs", false),
  );

  const keys = async () => ({ keys: [deps.tokens.publicJwk] });
  app.get("/:tenant/discovery/v2.0/keys", keys);
  app.get("/:tenant/discovery/keys", keys);

  const token = async (request: FastifyRequest, reply: FastifyReply) => {
    const { tenant } = request.params as { tenant: string };
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    let clientId = form.client_id;
    let clientSecret = form.client_secret;
    const basic = /^Basic\s+(\S+)$/i.exec(request.headers.authorization ?? "");
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":");
      clientId = decodeURIComponent(id ?? "");
      clientSecret = decodeURIComponent(secret ?? "");
    }
    if (form.grant_type !== "client_credentials") {
      return oauthError(
        reply,
        400,
        "unsupported_grant_type",
        `AADSTS70003: The grant type '${form.grant_type ?? ""}' is not supported. Use client_credentials.`,
      );
    }
    if (!clientId || !clientSecret) {
      return oauthError(
        reply,
        400,
        "invalid_request",
        "AADSTS900144: client_id and client_secret are required.",
      );
    }
    const principal = await deps.store.identity.getPrincipal(clientId);
    if (
      !principal ||
      (!TENANT_ALIASES.has(tenant.toLowerCase()) &&
        !(isGuid(tenant) && tenant.toLowerCase() === principal.tenantId))
    ) {
      return oauthError(
        reply,
        400,
        "unauthorized_client",
        `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
      );
    }
    if (!(await verifySecret(clientSecret, principal.secretHash))) {
      return oauthError(
        reply,
        401,
        "invalid_client",
        `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value for app '${clientId}'.`,
      );
    }
    const audience = audienceOf(form.scope, form.resource);
    if (!audience) {
      return oauthError(
        reply,
        400,
        "invalid_scope",
        "AADSTS1002012: The scope must name a resource and end in '/.default'.",
      );
    }
    const issued = await deps.tokens.issue(principal, audience);
    return {
      token_type: "Bearer",
      expires_in: issued.expiresIn,
      ext_expires_in: issued.expiresIn,
      expires_on: issued.expiresOn,
      resource: audience,
      access_token: issued.accessToken,
    };
  };
  app.post("/:tenant/oauth2/v2.0/token", token);
  app.post("/:tenant/oauth2/token", token);
}
