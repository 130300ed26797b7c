/**
 * Blob URIs: checking one is absolute http(s), cutting its SAS off for messages and logs, and
 * finding the storage account it names (to compare with a source's `storageAccountId`).
 */
import { BlobSourceError } from "./errors.js";

export interface BlobUri {
  /** The URI as given, SAS included: what requests go to. */
  readonly url: URL;
  /** The URI without query or fragment: what messages and logs show. */
  readonly display: string;
  /** The storage account the URI names, when its form says (see `accountOf`). */
  readonly account: string | undefined;
  /** The SAS expiry (`se`), when the URI carries one that parses. */
  readonly sasExpiry: Date | undefined;
}

/** Parses `uri`; anything but an absolute http(s) URI with a path is a "bad-uri". */
export function parseBlobUri(uri: string): BlobUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new BlobSourceError("bad-uri", `'${displayOf(uri)}' is not an absolute URI`, {
      uri: displayOf(uri),
    });
  }
  const display = `${url.origin}${url.pathname}`;
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname.length <= 1) {
    throw new BlobSourceError("bad-uri", `'${display}' is not an http(s) URI of a blob`, {
      uri: display,
    });
  }
  if (url.username || url.password) {
    throw new BlobSourceError("bad-uri", `'${display}' must not carry a user name or password`, {
      uri: display,
    });
  }
  const se = url.searchParams.get("se");
  const expiry = se ? new Date(se) : undefined;
  return {
    url,
    display,
    account: accountOf(url),
    sasExpiry: expiry && !Number.isNaN(expiry.getTime()) ? expiry : undefined,
  };
}

/**
 * The account a blob URL names: the first label of `{account}.blob.{suffix}` (Azure, and
 * Azurite's production-style URLs), or the first path segment when the host is an IP address or
 * `localhost` (Azurite's and the emulator's path-style URLs). Undefined for any other host (a
 * custom domain), whose account cannot be told from the URL.
 */
export function accountOf(url: URL): string | undefined {
  const host = url.hostname.toLowerCase();
  const label = /^([a-z0-9]{3,24})\.blob\./.exec(host)?.[1];
  if (label) return label;
  const pathStyle =
    host === "localhost" || /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("[");
  if (pathStyle) return url.pathname.split("/")[1]?.toLowerCase() || undefined;
  return undefined;
}

const STORAGE_ACCOUNT_ID =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Storage\/storageAccounts\/([^/]+)$/i;

/**
 * Checks that `storageAccountId` is a storage account's ARM id and, when the URI's form names an
 * account, that it is the same one ("account-mismatch" otherwise).
 */
export function checkStorageAccount(blob: BlobUri, storageAccountId: string): void {
  const name = STORAGE_ACCOUNT_ID.exec(storageAccountId)?.[1]?.toLowerCase();
  if (!name) {
    throw new BlobSourceError(
      "bad-uri",
      `storageAccountId '${storageAccountId}' is not the ARM id of a storage account`,
      { uri: blob.display },
    );
  }
  if (blob.account !== undefined && blob.account !== name) {
    throw new BlobSourceError(
      "account-mismatch",
      `${blob.display} is in storage account '${blob.account}', storageAccountId names '${name}'`,
      { uri: blob.display },
    );
  }
}

/** `uri` cut at its query or fragment, for messages about a string that did not parse. */
function displayOf(uri: string): string {
  return uri.split(/[?#]/, 1)[0] ?? "";
}
