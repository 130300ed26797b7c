/**
 * The HTTPS identity of the server: on first start a private CA and a server certificate for
 * localhost/127.0.0.1/::1 are generated into the data dir; later starts load them. Clients trust
 * the CA file (NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE).
 */
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface TlsMaterial {
  cert: string;
  key: string;
  caCertificatePath: string;
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // keep it positive
  return Buffer.from(bytes).toString("hex");
}

/** Loaded only on a first start: later starts just read the files, and start faster for it. */
async function x509Library() {
  // @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(webcrypto as Crypto);
  return x509;
}

async function generate(dir: string): Promise<void> {
  const x509 = await x509Library();
  const now = new Date(Date.now() - 60_000);
  const notAfter = new Date(now.getTime() + TEN_YEARS_MS);
  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=Open Compute Gallery local CA",
    notBefore: now,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: "CN=localhost",
    issuer: caCert.subject,
    notBefore: now,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const serverKey = await webcrypto.subtle.exportKey("pkcs8", serverKeys.privateKey);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "server-key.pem"), toPem(serverKey, "PRIVATE KEY"), { mode: 0o600 });
  writeFileSync(join(dir, "server.pem"), serverCert.toString("pem") + "\n");
  // The CA key is not kept: nobody can mint more certificates this machine trusts.
  writeFileSync(join(dir, "ca.pem"), caCert.toString("pem") + "\n");
}

export async function loadOrCreateTls(
  dataDir: string,
  given?: { cert?: string; key?: string; ca?: string },
): Promise<TlsMaterial> {
  if (given?.cert && given.key) {
    return {
      cert: readFileSync(given.cert, "utf8"),
      key: readFileSync(given.key, "utf8"),
      caCertificatePath: resolve(given.ca ?? given.cert),
    };
  }
  const dir = join(dataDir, "tls");
  if (!existsSync(join(dir, "server.pem")) || !existsSync(join(dir, "server-key.pem"))) {
    await generate(dir);
  }
  return {
    cert: readFileSync(join(dir, "server.pem"), "utf8"),
    key: readFileSync(join(dir, "server-key.pem"), "utf8"),
    caCertificatePath: join(dir, "ca.pem"),
  };
}
