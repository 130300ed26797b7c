/**
 * Trusted Launch validation of a version's OS disk, for definitions whose SecurityType supports
 * Trusted Launch: run once, on the first stored copy of the content, and recorded in the
 * version's `validationsProfile` (as Azure reports it) before the version can succeed.
 */
import { parseManifest } from "../blobs/manifest.js";
import { FormatError } from "../formats/random-access.js";
import { validateTrustedLaunch } from "../formats/trusted-launch.js";
import { openFixedVhd } from "../formats/vhd.js";
import { TYPES } from "../domain/ids.js";
import type { ResourceRecord } from "../domain/resource.js";
import { contentKeyOf } from "../gallery/versions.js";
import type { ImageVersionService, TrustedLaunchOutcome } from "../gallery/version-service.js";
import type { ReplicateDeps } from "./replicate.js";

const TRUSTED_LAUNCH_TYPES = new Set([
  "trustedlaunchsupported",
  "trustedlaunchandconfidentialvmsupported",
]);

/** True when the version's definition asks for Trusted Launch validation. */
export function needsTrustedLaunch(definition: ResourceRecord | undefined): boolean {
  const features = (definition?.properties.features ?? []) as { name: string; value: string }[];
  return features.some(
    (f) =>
      f.name.toLowerCase() === "securitytype" && TRUSTED_LAUNCH_TYPES.has(f.value.toLowerCase()),
  );
}

/** Validates the OS disk if the definition asks for it and nobody has yet; records the result. */
export async function validateVersion(
  deps: ReplicateDeps & { versions: ImageVersionService },
  version: ResourceRecord,
  signal: AbortSignal,
): Promise<void> {
  if (version.type !== TYPES.imageVersion) return;
  const current = await deps.store.resources.get(version.key);
  if (!current || current.properties._validated) return;
  const definition = current.parentKey
    ? await deps.store.resources.get(current.parentKey)
    : undefined;
  if (!needsTrustedLaunch(definition)) return;
  const [row] = await deps.store.manifests.listByResource(contentKeyOf(version.key, "os"));
  if (!row) return;
  const content = deps.chunkStore(row.location).randomAccess(parseManifest(row.manifest));
  const started = new Date();
  let outcome: TrustedLaunchOutcome;
  try {
    const { disk } = await openFixedVhd(content, { signal });
    const result = await validateTrustedLaunch(disk, { signal });
    const failed = result.checks.find((c) => !c.passed);
    outcome = { status: result.status, executionTime: started, detail: failed?.detail };
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    outcome = { status: "Failed", executionTime: started, detail: err.message };
  }
  await deps.versions.recordValidation(version.key, outcome);
}
