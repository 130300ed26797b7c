/**
 * PE/COFF images (Microsoft's "PE Format") as far as Secure Boot cares: the DOS header, the PE
 * signature, the COFF header (machine), the optional header (PE32 or PE32+, subsystem, data
 * directories), the section table, and the certificate table (data directory 4, a file offset,
 * not an RVA) with its WIN_CERTIFICATE entries.
 *
 * Authenticode (Microsoft's "Windows Authenticode Portable Executable Signature Format"): the
 * PKCS#7 SignedData in a WIN_CERTIFICATE of revision 0x0200 and type PKCS_SIGNED_DATA, whose
 * content is an SpcIndirectDataContent carrying the digest of the image. `authenticodeDigest`
 * recomputes that digest, so a file changed after signing is told apart from a signed one.
 * The signer's signature and certificate chain are not verified here (firmware does that
 * against its db at boot).
 *
 * Works on the whole file in memory (EFI loaders are small; callers cap the size). Every
 * offset is bounds-checked; failures are `PeError`s.
 */
import { createHash } from "node:crypto";
import { FormatError } from "./random-access.js";

export const IMAGE_FILE_MACHINE_AMD64 = 0x8664;
export const PE32_MAGIC = 0x10b;
export const PE32_PLUS_MAGIC = 0x20b;
export const IMAGE_SUBSYSTEM_EFI_APPLICATION = 10;
export const WIN_CERT_REVISION_2_0 = 0x0200;
export const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;
const IMAGE_DIRECTORY_ENTRY_SECURITY = 4;
const MAX_SECTIONS = 96;
const MAX_CERTIFICATES = 64;

export type PeErrorReason =
  | "not-pe"
  | "bad-header"
  | "bad-section"
  | "no-certificate-table"
  | "bad-certificate-table"
  | "no-authenticode"
  | "bad-signature-data"
  | "unsupported-digest";

export class PeError extends FormatError<PeErrorReason> {
  constructor(reason: PeErrorReason, message: string) {
    super("pe", reason, message);
  }
}

export interface PeSection {
  name: string;
  virtualSize: number;
  virtualAddress: number;
  rawSize: number;
  rawOffset: number;
}

export interface PeImage {
  machine: number;
  characteristics: number;
  /** 0x10B (PE32) or 0x20B (PE32+). */
  magic: number;
  subsystem: number;
  sizeOfHeaders: number;
  /** File offsets of the CheckSum field and of the certificate table's directory entry. */
  checksumOffset: number;
  certificateDirectoryOffset: number | undefined;
  /** The certificate table as the directory says (offset 0 / size 0: none). */
  certificateTable: { offset: number; size: number } | undefined;
  sections: PeSection[];
}

export interface WinCertificate {
  offset: number;
  length: number;
  revision: number;
  certificateType: number;
  /** bCertificate: the bytes after the 8-byte header, `length - 8` of them. */
  data: Buffer;
}

export interface AuthenticodeSignature {
  certificate: WinCertificate;
  /** "sha1", "sha256", "sha384" or "sha512". */
  digestAlgorithm: string;
  /** The image digest the signer signed (from SpcIndirectDataContent). */
  digest: Buffer;
}

function need(
  buf: Buffer,
  at: number,
  length: number,
  what: string,
  reason: PeErrorReason = "bad-header",
): void {
  if (at < 0 || length < 0 || at + length > buf.length) {
    throw new PeError(reason, `${what} (${length} bytes at ${at}) lies outside the file`);
  }
}

/** Parses the headers and section table of a PE image. */
export function parsePe(file: Uint8Array): PeImage {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 64 || buf[0] !== 0x4d || buf[1] !== 0x5a) {
    throw new PeError("not-pe", "no DOS header ('MZ')");
  }
  const peOffset = buf.readUInt32LE(0x3c);
  if (peOffset + 24 > buf.length || buf.readUInt32LE(peOffset) !== 0x00004550) {
    throw new PeError("not-pe", `no PE signature at offset ${peOffset}`);
  }
  const coff = peOffset + 4;
  const machine = buf.readUInt16LE(coff);
  const numberOfSections = buf.readUInt16LE(coff + 2);
  const sizeOfOptionalHeader = buf.readUInt16LE(coff + 16);
  const characteristics = buf.readUInt16LE(coff + 18);
  const opt = coff + 20;
  need(buf, opt, sizeOfOptionalHeader, "the optional header");
  if (sizeOfOptionalHeader < 2) throw new PeError("bad-header", "no optional header");
  const magic = buf.readUInt16LE(opt);
  if (magic !== PE32_MAGIC && magic !== PE32_PLUS_MAGIC) {
    throw new PeError("bad-header", `optional header magic 0x${magic.toString(16)}`);
  }
  const directoriesAt = magic === PE32_PLUS_MAGIC ? 112 : 96;
  if (sizeOfOptionalHeader < directoriesAt) {
    throw new PeError(
      "bad-header",
      `optional header of ${sizeOfOptionalHeader} bytes is too short`,
    );
  }
  const subsystem = buf.readUInt16LE(opt + 68);
  const sizeOfHeaders = buf.readUInt32LE(opt + 60);
  const numberOfRvaAndSizes = buf.readUInt32LE(opt + directoriesAt - 4);
  const directories = Math.min(
    numberOfRvaAndSizes,
    Math.floor((sizeOfOptionalHeader - directoriesAt) / 8),
  );
  let certificateDirectoryOffset: number | undefined;
  let certificateTable: PeImage["certificateTable"];
  if (directories > IMAGE_DIRECTORY_ENTRY_SECURITY) {
    certificateDirectoryOffset = opt + directoriesAt + IMAGE_DIRECTORY_ENTRY_SECURITY * 8;
    const offset = buf.readUInt32LE(certificateDirectoryOffset);
    const size = buf.readUInt32LE(certificateDirectoryOffset + 4);
    if (offset !== 0 || size !== 0) certificateTable = { offset, size };
  }
  if (numberOfSections > MAX_SECTIONS) {
    throw new PeError("bad-section", `${numberOfSections} sections (at most ${MAX_SECTIONS})`);
  }
  const sectionTable = opt + sizeOfOptionalHeader;
  need(buf, sectionTable, numberOfSections * 40, "the section table", "bad-section");
  if (sizeOfHeaders > buf.length || sizeOfHeaders < sectionTable + numberOfSections * 40) {
    throw new PeError("bad-header", `SizeOfHeaders ${sizeOfHeaders} does not cover the headers`);
  }
  const sections: PeSection[] = [];
  for (let i = 0; i < numberOfSections; i++) {
    const s = sectionTable + i * 40;
    const nameRaw = buf.toString("latin1", s, s + 8);
    const section: PeSection = {
      name: nameRaw.replace(/\0.*$/s, ""),
      virtualSize: buf.readUInt32LE(s + 8),
      virtualAddress: buf.readUInt32LE(s + 12),
      rawSize: buf.readUInt32LE(s + 16),
      rawOffset: buf.readUInt32LE(s + 20),
    };
    if (section.rawSize > 0 && section.rawOffset + section.rawSize > buf.length) {
      throw new PeError(
        "bad-section",
        `section '${section.name}' (${section.rawSize} bytes at ${section.rawOffset}) lies outside the file`,
      );
    }
    sections.push(section);
  }
  return {
    machine,
    characteristics,
    magic,
    subsystem,
    sizeOfHeaders,
    checksumOffset: opt + 64,
    certificateDirectoryOffset,
    certificateTable,
    sections,
  };
}

/** What keeps `pe` from being a PE32+ x64 EFI application; empty when it is one. */
export function efiApplicationProblems(pe: PeImage): string[] {
  const problems: string[] = [];
  if (pe.machine !== IMAGE_FILE_MACHINE_AMD64) {
    problems.push(`machine 0x${pe.machine.toString(16)}, not x64 (0x8664)`);
  }
  if (pe.magic !== PE32_PLUS_MAGIC) {
    problems.push(`optional header magic 0x${pe.magic.toString(16)}, not PE32+ (0x20b)`);
  }
  if (pe.subsystem !== IMAGE_SUBSYSTEM_EFI_APPLICATION) {
    problems.push(`subsystem ${pe.subsystem}, not EFI application (10)`);
  }
  return problems;
}

/** The WIN_CERTIFICATE entries of the certificate table (8-byte aligned, inside the file). */
export function readCertificates(file: Uint8Array, pe: PeImage): WinCertificate[] {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const table = pe.certificateTable;
  if (!table) throw new PeError("no-certificate-table", "no certificate table (data directory 4)");
  if (table.offset + table.size > buf.length || table.offset < pe.sizeOfHeaders) {
    throw new PeError(
      "bad-certificate-table",
      `certificate table (${table.size} bytes at ${table.offset}) lies outside the file's data (${buf.length} bytes)`,
    );
  }
  const certificates: WinCertificate[] = [];
  let at = table.offset;
  const end = table.offset + table.size;
  while (at + 8 <= end) {
    const length = buf.readUInt32LE(at);
    if (length < 8 || at + length > end) {
      throw new PeError(
        "bad-certificate-table",
        `WIN_CERTIFICATE at ${at} has length ${length}, outside the table`,
      );
    }
    certificates.push({
      offset: at,
      length,
      revision: buf.readUInt16LE(at + 4),
      certificateType: buf.readUInt16LE(at + 6),
      data: buf.subarray(at + 8, at + length),
    });
    if (certificates.length > MAX_CERTIFICATES) {
      throw new PeError("bad-certificate-table", `more than ${MAX_CERTIFICATES} certificates`);
    }
    at += Math.ceil(length / 8) * 8;
  }
  if (certificates.length === 0) {
    throw new PeError("bad-certificate-table", "the certificate table holds no WIN_CERTIFICATE");
  }
  return certificates;
}

interface Der {
  tag: number;
  /** Content start and end (exclusive). */
  start: number;
  end: number;
}

function der(buf: Buffer, at: number, limit: number, expectTag?: number): Der {
  const fail = (why: string) => new PeError("bad-signature-data", `PKCS#7 DER at ${at}: ${why}`);
  if (at + 2 > limit) throw fail("truncated");
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw fail("multi-byte tag");
  if (expectTag !== undefined && tag !== expectTag) {
    throw fail(`tag 0x${tag.toString(16)}, expected 0x${expectTag.toString(16)}`);
  }
  let length = buf[at + 1]!;
  let start = at + 2;
  if (length === 0x80) throw fail("indefinite length");
  if (length > 0x80) {
    const n = length - 0x80;
    if (n > 4 || start + n > limit) throw fail("bad length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i]!;
    start += n;
  }
  if (start + length > limit) throw fail(`length ${length} runs past its container`);
  return { tag, start, end: start + length };
}

const OID = {
  signedData: "2a864886f70d010702",
  spcIndirectData: "2b060104018237020104",
  sha1: "2b0e03021a",
  sha256: "608648016503040201",
  sha384: "608648016503040202",
  sha512: "608648016503040203",
} as const;
const DIGESTS: Record<string, string> = {
  [OID.sha1]: "sha1",
  [OID.sha256]: "sha256",
  [OID.sha384]: "sha384",
  [OID.sha512]: "sha512",
};

function oidHex(buf: Buffer, node: Der): string {
  return buf.toString("hex", node.start, node.end);
}

/**
 * Reads the Authenticode signature out of one WIN_CERTIFICATE's bytes: ContentInfo(signedData)
 * → SignedData → encapContentInfo(SpcIndirectDataContent) → DigestInfo, and checks that the
 * SignedData has at least one signer.
 */
export function parseAuthenticode(certificate: WinCertificate): AuthenticodeSignature {
  const buf = certificate.data;
  const contentInfo = der(buf, 0, buf.length, 0x30);
  if (buf.subarray(contentInfo.end).some((b) => b !== 0)) {
    throw new PeError("bad-signature-data", "bytes after the PKCS#7 ContentInfo");
  }
  const contentType = der(buf, contentInfo.start, contentInfo.end, 0x06);
  if (oidHex(buf, contentType) !== OID.signedData) {
    throw new PeError("bad-signature-data", "the PKCS#7 content is not signedData");
  }
  const explicit = der(buf, contentType.end, contentInfo.end, 0xa0);
  const signedData = der(buf, explicit.start, explicit.end, 0x30);
  const version = der(buf, signedData.start, signedData.end, 0x02);
  const digestAlgorithms = der(buf, version.end, signedData.end, 0x31);
  const encap = der(buf, digestAlgorithms.end, signedData.end, 0x30);
  const encapType = der(buf, encap.start, encap.end, 0x06);
  if (oidHex(buf, encapType) !== OID.spcIndirectData) {
    throw new PeError(
      "bad-signature-data",
      "the signed content is not SpcIndirectDataContent (not Authenticode)",
    );
  }
  const encapExplicit = der(buf, encapType.end, encap.end, 0xa0);
  const indirect = der(buf, encapExplicit.start, encapExplicit.end, 0x30);
  const attribute = der(buf, indirect.start, indirect.end, 0x30);
  const digestInfo = der(buf, attribute.end, indirect.end, 0x30);
  const algorithm = der(buf, digestInfo.start, digestInfo.end, 0x30);
  const algorithmOid = der(buf, algorithm.start, algorithm.end, 0x06);
  const digest = der(buf, algorithm.end, digestInfo.end, 0x04);
  // After the content: optional certificates [0] and crls [1], then the signerInfos SET.
  let at = encap.end;
  let signerInfos: Der | undefined;
  while (at < signedData.end) {
    const node = der(buf, at, signedData.end);
    if (node.tag === 0x31) signerInfos = node;
    at = node.end;
  }
  if (!signerInfos || signerInfos.end === signerInfos.start) {
    throw new PeError("bad-signature-data", "the SignedData has no signer");
  }
  const digestAlgorithm = DIGESTS[oidHex(buf, algorithmOid)];
  if (!digestAlgorithm) {
    throw new PeError(
      "unsupported-digest",
      `Authenticode digest algorithm OID ${oidHex(buf, algorithmOid)} is not SHA-1/2`,
    );
  }
  return {
    certificate,
    digestAlgorithm,
    digest: Buffer.from(buf.subarray(digest.start, digest.end)),
  };
}

/**
 * The Authenticode signatures of the image: every WIN_CERTIFICATE of revision 0x0200 and type
 * PKCS_SIGNED_DATA holding a well-formed Authenticode SignedData (a binary may carry several,
 * e.g. shim signed by both Microsoft UEFI CAs). Fails when there is none; when every candidate
 * is malformed, with the first one's error.
 */
export function findAuthenticodeSignatures(file: Uint8Array, pe: PeImage): AuthenticodeSignature[] {
  const certificates = readCertificates(file, pe);
  const candidates = certificates.filter(
    (c) =>
      c.revision === WIN_CERT_REVISION_2_0 && c.certificateType === WIN_CERT_TYPE_PKCS_SIGNED_DATA,
  );
  if (candidates.length === 0) {
    const seen = certificates
      .map((c) => `revision 0x${c.revision.toString(16)} type 0x${c.certificateType.toString(16)}`)
      .join(", ");
    throw new PeError(
      "no-authenticode",
      `no WIN_CERTIFICATE of revision 0x0200 and type PKCS_SIGNED_DATA (found ${seen})`,
    );
  }
  const signatures: AuthenticodeSignature[] = [];
  let firstError: PeError | undefined;
  for (const c of candidates) {
    try {
      signatures.push(parseAuthenticode(c));
    } catch (err) {
      if (!(err instanceof PeError)) throw err;
      firstError ??= err;
    }
  }
  if (signatures.length === 0) throw firstError!;
  return signatures;
}

/**
 * The Authenticode image digest (the algorithm of the Authenticode PE specification): the
 * headers without the CheckSum field and the certificate directory entry, the sections in file
 * order, then any data after them up to the certificate table.
 */
export function authenticodeDigest(file: Uint8Array, pe: PeImage, algorithm: string): Buffer {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const hash = createHash(algorithm);
  const dir = pe.certificateDirectoryOffset;
  if (dir === undefined) throw new PeError("no-certificate-table", "no certificate directory");
  hash.update(buf.subarray(0, pe.checksumOffset));
  hash.update(buf.subarray(pe.checksumOffset + 4, dir));
  hash.update(buf.subarray(dir + 8, pe.sizeOfHeaders));
  let hashed = pe.sizeOfHeaders;
  const sections = pe.sections
    .filter((s) => s.rawSize > 0)
    .sort((a, b) => a.rawOffset - b.rawOffset);
  for (const s of sections) {
    hash.update(buf.subarray(s.rawOffset, s.rawOffset + s.rawSize));
    hashed += s.rawSize;
  }
  const certificateSize = pe.certificateTable?.size ?? 0;
  const extraEnd = buf.length - certificateSize;
  if (extraEnd > hashed) hash.update(buf.subarray(hashed, extraEnd));
  return hash.digest();
}
