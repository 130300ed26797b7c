/**
 * PE/COFF and Authenticode on small images assembled in the test: what makes a PE32+ x64 EFI
 * application, where the certificate table and its WIN_CERTIFICATE must be, and the image
 * digest a signature carries. Hostile headers fail with a PeError.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  authenticodeDigest,
  efiApplicationProblems,
  findAuthenticodeSignatures,
  parsePe,
  PeError,
  readCertificates,
  type PeErrorReason,
} from "../../src/formats/pe.js";
import { FormatError } from "../../src/formats/random-access.js";
import { authenticodeBlob, OIDS, peImage } from "./images.js";

const rejectsWith = (reason: PeErrorReason) => (e: unknown) =>
  e instanceof PeError && e.reason === reason;
const signatureOf = (file: Buffer) => findAuthenticodeSignatures(file, parsePe(file))[0]!;

test("a signed PE32+ x64 EFI application: headers, sections, signature and digest", () => {
  const file = peImage();
  const pe = parsePe(file);
  assert.equal(pe.machine, 0x8664);
  assert.equal(pe.magic, 0x20b);
  assert.equal(pe.subsystem, 10);
  assert.deepEqual(efiApplicationProblems(pe), []);
  assert.deepEqual(
    pe.sections.map((s) => [s.name, s.rawOffset, s.rawSize]),
    [[".text", 0x200, 0x200]],
  );
  assert.deepEqual(pe.certificateTable, { offset: 0x400, size: file.length - 0x400 });
  const [cert] = readCertificates(file, pe);
  assert.equal(cert?.revision, 0x0200);
  assert.equal(cert?.certificateType, 0x0002);
  const sig = signatureOf(file);
  assert.equal(sig.digestAlgorithm, "sha256");
  assert.deepEqual(sig.digest, authenticodeDigest(file, pe, "sha256"));
});

test("the digest leaves out the checksum, the certificate entry and the table, nothing else", () => {
  const file = peImage();
  const pe = parsePe(file);
  const digest = authenticodeDigest(file, pe, "sha256");
  const changed = (at: number) => {
    const b = Buffer.from(file);
    b[at] = b[at]! ^ 0xff;
    return authenticodeDigest(b, parsePe(b), "sha256");
  };
  assert.deepEqual(changed(pe.checksumOffset), digest, "CheckSum is not hashed");
  assert.deepEqual(changed(file.length - 1), digest, "the certificate table is not hashed");
  assert.notDeepEqual(changed(0x300), digest, "section bytes are hashed");
  assert.notDeepEqual(changed(0x3c - 2), digest, "header bytes are hashed");
});

test("another machine, PE32 or another subsystem is not an x64 EFI application", () => {
  assert.match(efiApplicationProblems(parsePe(peImage({ machine: 0x14c })))[0]!, /machine 0x14c/);
  assert.match(efiApplicationProblems(parsePe(peImage({ magic: 0x10b })))[0]!, /PE32\+/);
  assert.match(efiApplicationProblems(parsePe(peImage({ subsystem: 3 })))[0]!, /subsystem 3/);
  assert.deepEqual(
    efiApplicationProblems(parsePe(peImage({ magic: 0x10b, machine: 0xaa64 }))).length,
    2,
  );
});

test("no certificate table, or one that is not an Authenticode signature, is named so", () => {
  assert.throws(
    () => signatureOf(peImage({ unsigned: true })),
    rejectsWith("no-certificate-table"),
  );
  assert.throws(
    () => signatureOf(peImage({ certificateType: 0x0001 })),
    rejectsWith("no-authenticode"),
  );
  assert.throws(() => signatureOf(peImage({ revision: 0x0100 })), rejectsWith("no-authenticode"));
  assert.throws(
    () => signatureOf(peImage({ blob: Buffer.from("not DER at all") })),
    rejectsWith("bad-signature-data"),
  );
  const notSignedData = authenticodeBlob(Buffer.alloc(32));
  notSignedData[4 + 8] = notSignedData[4 + 8]! ^ 1; // last byte of the signedData OID
  assert.throws(
    () => signatureOf(peImage({ blob: notSignedData })),
    rejectsWith("bad-signature-data"),
  );
  const truncated = authenticodeBlob(Buffer.alloc(32)).subarray(0, 60);
  assert.throws(() => signatureOf(peImage({ blob: truncated })), rejectsWith("bad-signature-data"));
  assert.throws(
    () => signatureOf(peImage({ blob: authenticodeBlob(Buffer.alloc(16), OIDS.md5) })),
    rejectsWith("unsupported-digest"),
  );
});

test("of several certificates, every well-formed Authenticode one is found", () => {
  const withSecond = (first: Buffer, blob: Buffer, type = 0x0002) => {
    const pe = parsePe(first);
    const cert = Buffer.alloc(Math.ceil((8 + blob.length) / 8) * 8);
    cert.writeUInt32LE(8 + blob.length, 0);
    cert.writeUInt16LE(0x0200, 4);
    cert.writeUInt16LE(type, 6);
    blob.copy(cert, 8);
    const file = Buffer.concat([first, cert]);
    file.writeUInt32LE(pe.certificateTable!.size + cert.length, pe.certificateDirectoryOffset! + 4);
    return file;
  };
  const good = peImage();
  const digest = signatureOf(good).digest;
  const two = withSecond(good, authenticodeBlob(Buffer.alloc(32, 1)));
  assert.deepEqual(
    findAuthenticodeSignatures(two, parsePe(two)).map((s) => s.digest),
    [digest, Buffer.alloc(32, 1)],
  );
  const brokenFirst = withSecond(peImage({ blob: Buffer.from("junk") }), authenticodeBlob(digest));
  assert.deepEqual(
    findAuthenticodeSignatures(brokenFirst, parsePe(brokenFirst)).map((s) => s.digest),
    [digest],
  );
  const x509First = withSecond(peImage({ certificateType: 1 }), authenticodeBlob(digest));
  assert.equal(findAuthenticodeSignatures(x509First, parsePe(x509First)).length, 1);
  const bothBroken = withSecond(peImage({ blob: Buffer.from("junk") }), Buffer.from("more junk"));
  assert.throws(() => signatureOf(bothBroken), rejectsWith("bad-signature-data"));
});

test("a certificate table outside the file, or entries that overrun it, are refused", () => {
  const file = peImage();
  const dir = parsePe(file).certificateDirectoryOffset!;
  const withDir = (offset: number, size: number) => {
    const b = Buffer.from(file);
    b.writeUInt32LE(offset, dir);
    b.writeUInt32LE(size, dir + 4);
    return b;
  };
  assert.throws(
    () => signatureOf(withDir(0x400, file.length)),
    rejectsWith("bad-certificate-table"),
  );
  assert.throws(() => signatureOf(withDir(0xfffffff0, 0x20)), rejectsWith("bad-certificate-table"));
  assert.throws(() => signatureOf(withDir(0x10, 0x20)), rejectsWith("bad-certificate-table"));
  assert.throws(() => signatureOf(withDir(0x400, 4)), rejectsWith("bad-certificate-table"));
  const overrun = Buffer.from(file);
  overrun.writeUInt32LE(0x7fffffff, 0x400);
  assert.throws(() => signatureOf(overrun), rejectsWith("bad-certificate-table"));
  const zeroLength = Buffer.from(file);
  zeroLength.writeUInt32LE(0, 0x400);
  assert.throws(() => signatureOf(zeroLength), rejectsWith("bad-certificate-table"));
});

test("hostile headers fail with a PeError", () => {
  const file = peImage();
  const patched = (at: number, write: (b: Buffer) => void) => {
    const b = Buffer.from(file);
    write(b);
    return b;
  };
  assert.throws(() => parsePe(Buffer.alloc(10)), rejectsWith("not-pe"));
  assert.throws(() => parsePe(patched(0, (b) => b.write("ZM", 0))), rejectsWith("not-pe"));
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt32LE(0xfffffff0, 0x3c))),
    rejectsWith("not-pe"),
  );
  assert.throws(() => parsePe(patched(0, (b) => b.writeUInt32LE(0, 0x80))), rejectsWith("not-pe"));
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt16LE(0xffff, 0x84 + 16))),
    rejectsWith("bad-header"),
  );
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt16LE(0x107, 0x98))),
    rejectsWith("bad-header"),
  );
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt16LE(0xffff, 0x84 + 2))),
    rejectsWith("bad-section"),
  );
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt16LE(40, 0x84 + 2))),
    rejectsWith("bad-section"),
  );
  const section = 0x98 + 240;
  assert.throws(
    () => parsePe(patched(0, (b) => b.writeUInt32LE(0xfffff000, section + 20))),
    rejectsWith("bad-section"),
  );
});

test("random damage to a signed image gives a PeError or an answer, nothing else", () => {
  const file = peImage();
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(file.length - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }),
      (edits) => {
        const b = Buffer.from(file);
        for (const [at, v] of edits) b[at] = v;
        try {
          const pe = parsePe(b);
          efiApplicationProblems(pe);
          for (const sig of findAuthenticodeSignatures(b, pe)) {
            authenticodeDigest(b, pe, sig.digestAlgorithm);
          }
        } catch (e) {
          assert.ok(e instanceof FormatError, String(e));
        }
      },
    ),
    { numRuns: 3000 },
  );
});
