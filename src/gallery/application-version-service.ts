/**
 * Gallery application versions on the life cycle all gallery versions share
 * (`version-lifecycle.ts`). Their contents are files read through a URI — the package
 * (`mediaLink`, content `package`) and its default configuration (`defaultConfigurationLink`,
 * `config`): each checked before anything is recorded, ingested once by the version's first replica
 * in its home region and copied from there by the others, as an image version's VHD is. Azure has
 * no `latest` for applications here, and nothing serves the files back: VMs download them.
 */
import { ValidationError } from "../domain/errors.js";
import type { RegionCatalog } from "../domain/regions.js";
import type { ResourceRecord, Store } from "../domain/resource.js";
import type { Properties } from "../domain/resource-service.js";
import {
  APPLICATION_FILES,
  applicationVersionRules,
  SOURCE_TARGET,
  type ApplicationPublishingProfile,
  type UserArtifactSource,
} from "./application-versions.js";
import { VersionService, type ReplicaPlacement } from "./version-lifecycle.js";
import { contentKeyOf, versionContentsOf, type VersionContent } from "./versions.js";

/** Checks a file given by URI before a version takes it (exists, readable). */
export type FileSourceCheck = (uri: string, target: string) => Promise<void>;

export class ApplicationVersionService extends VersionService {
  constructor(
    store: Store,
    regions: RegionCatalog,
    placement: ReplicaPlacement,
    /** Called after a write that queued replication work commits. */
    onQueued: () => void = () => {},
    private readonly checkUri?: FileSourceCheck,
  ) {
    super(store, regions, placement, applicationVersionRules(regions), onQueued);
  }

  protected override async checkSources(properties: Properties) {
    const source = (properties.publishingProfile as Properties | undefined)?.source as
      Partial<UserArtifactSource> | undefined;
    for (const { link } of APPLICATION_FILES) {
      const uri = source?.[link];
      if (uri === undefined) continue;
      if (!this.checkUri) {
        throw new ValidationError(
          "InvalidParameter",
          "Sources given by URI are not read by this server.",
          `${SOURCE_TARGET}.${link}`,
        );
      }
      await this.checkUri(uri, `${SOURCE_TARGET}.${link}`);
    }
  }

  protected override async takeSources(_tx: Store, record: ResourceRecord) {
    const source = (record.properties.publishingProfile as ApplicationPublishingProfile).source;
    const contents: VersionContent[] = [];
    for (const { content, link } of APPLICATION_FILES) {
      const uri = source[link];
      if (uri === undefined) continue;
      contents.push({
        disk: content,
        source: { kind: "uri", uri, target: `${SOURCE_TARGET}.${link}`, format: "file" },
      });
    }
    return contents;
  }

  /** Size and SHA-256 of each file, once stored; the digests are shown in `source`. */
  protected override async describeContent(tx: Store, version: ResourceRecord) {
    const contents = versionContentsOf(version.properties);
    const profile = version.properties.publishingProfile as ApplicationPublishingProfile;
    const source = { ...profile.source };
    for (const c of contents) {
      const [row] = await tx.manifests.listByResource(contentKeyOf(version.key, c.disk));
      if (!row) continue;
      c.size = (row.manifest as { size: number }).size;
      c.sha256 = row.digest ?? undefined;
      const file = APPLICATION_FILES.find((f) => f.content === c.disk);
      if (file) source[file.digest] = c.sha256;
    }
    version.properties.publishingProfile = { ...profile, source };
    version.properties._contents = contents;
  }
}
