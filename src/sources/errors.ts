/**
 * Why a source read through a URI was refused, as one typed error the API layer maps to Azure's
 * answer (`azureErrorOf`). Messages never carry a SAS: URIs in them are cut at the `?`.
 *
 * What Azure answers, and where that is known from (docs/designs/image-bytes.md, "Sources read
 * through a URI", has the list with its sources):
 * - the blob cannot be read (missing, denied, expired SAS, host unreachable, server failing):
 *   400 InvalidParameter "The source blob {uri} is not accessible." — Microsoft.Compute's answer
 *   for a VHD source (hashicorp/terraform-provider-azurerm#4427).
 * - the blob is no VHD in Azure's format: "Only blobs formatted as VHDs can be imported." —
 *   Microsoft.Compute's text for a VHD that is not fixed or not MiB-aligned (Azure/azure-cli#6179,
 *   MicrosoftDocs/azure-docs#5148); we add what is wrong.
 * - the blob is not a page blob: Azure Stack Edge documents "Invalid blob type for source blob
 *   uri."; the gallery's own text is not public, so the message is ocg's.
 * - a mediaLink that is not an absolute URI: 400 InvalidParameter "Source uri: '{uri}' must be an
 *   absolute uri." (Azure/azure-rest-api-specs#21212).
 */
import { ValidationError } from "../domain/errors.js";
import type { VhdError } from "../formats/vhd.js";

export type BlobSourceErrorReason =
  /** Not an absolute http(s) URI, or a storageAccountId that is not a storage account's ARM id. */
  | "bad-uri"
  /** The URI names another storage account than `storageAccountId`. */
  | "account-mismatch"
  /** 404: no such blob or container (or a private container read anonymously). */
  | "not-found"
  /** 401/403/409 from the storage service: a wrong signature, missing permission, no public access. */
  | "access-denied"
  /** 403 and the SAS expiry (`se`) is past. */
  | "sas-expired"
  /** A disk source that is a block or append blob (Azure reads VHDs from page blobs only). */
  | "not-page-blob"
  /** A disk source that is not a fixed VHD in Azure's format; `cause` is the `VhdError`. */
  | "invalid-vhd"
  /** The blob changed while it was read (its ETag no longer matched: 412, or a short body). */
  | "changed"
  /** The host could not be reached, or the connection kept failing, after every retry. */
  | "unreachable"
  /** 5xx, 408 or 429 after every retry. */
  | "server-error"
  /** A ranged read answered with the whole body: the server does not do ranges. */
  | "no-range-support"
  /** Any other refusal of the storage service (status and code kept). */
  | "rejected";

export class BlobSourceError extends Error {
  constructor(
    readonly reason: BlobSourceErrorReason,
    message: string,
    readonly details: {
      /** The URI without its query (never the SAS). */
      readonly uri: string;
      /** HTTP status of the answer that decided, if one did. */
      readonly status?: number;
      /** The storage service's error code (`x-ms-error-code`), if any. */
      readonly storageCode?: string;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The `VhdError` behind an "invalid-vhd", else undefined. */
  get vhdError(): VhdError | undefined {
    return this.reason === "invalid-vhd" ? (this.cause as VhdError) : undefined;
  }
}

/**
 * The error an ARM request answers with for `error`: always 400 InvalidParameter (Azure checks
 * sources while validating the request), `target` the offending property, e.g.
 * `galleryImageVersion.properties.storageProfile.osDiskImage.source.uri` or
 * `galleryApplicationVersion.properties.publishingProfile.source.mediaLink`.
 */
export function azureErrorOf(error: BlobSourceError, target: string): ValidationError {
  const uri = error.details.uri;
  let message: string;
  switch (error.reason) {
    case "bad-uri":
      message = `Source uri: '${uri}' must be an absolute uri.`;
      break;
    case "account-mismatch":
      message = `The source blob ${uri} is not in the storage account given by storageAccountId.`;
      break;
    case "not-page-blob":
      message = `Invalid blob type for source blob uri: ${uri} must be a page blob holding a fixed VHD.`;
      break;
    case "invalid-vhd":
      message = `Only blobs formatted as VHDs can be imported: ${error.vhdError?.message ?? error.message} (source blob ${uri}).`;
      break;
    case "changed":
      message = `The source blob ${uri} changed while it was being read; try again.`;
      break;
    default:
      message = `The source blob ${uri} is not accessible.`;
  }
  return new ValidationError("InvalidParameter", message, target);
}
