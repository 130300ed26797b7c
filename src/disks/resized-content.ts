/**
 * A disk's content at a larger size, made without copying it: the manifest keeps every chunk of the
 * old disk, the bytes between the old end and the new one are holes (zeros, never stored) and a new
 * fixed-VHD footer for the new size ends it. Only the chunk holding that footer is written (and the
 * chunk the old footer shared with disk data, if the chunk size does not divide a MiB). The same
 * call gives an Empty disk, which has no manifest, the one it would have had: holes and a footer.
 *
 * The result has no `sha256`: it would mean hashing every zero the disk gained (seconds per ten
 * GiB). A version made from such a disk computes it while it replicates.
 */
import type { ChunkStore } from "../blobs/chunk-store.js";
import { chunkLength, type ChunkHash, type Manifest } from "../blobs/manifest.js";
import { VHD_FOOTER_SIZE } from "../formats/vhd.js";

/**
 * The content of a disk of `fromDiskBytes` (`manifest`, or all zeros when it has none) grown to
 * `toDiskBytes` and ending with `footer`. The chunks it needs are written to `store` (the store of
 * `manifest`) and synced before it resolves, so a manifest row recorded afterwards never names a
 * chunk a crash could lose.
 */
export async function resizedContent(
  store: ChunkStore,
  manifest: Manifest | undefined,
  fromDiskBytes: number,
  toDiskBytes: number,
  footer: Buffer,
): Promise<Manifest> {
  if (toDiskBytes < fromDiskBytes) throw new RangeError("a disk can only grow");
  const chunkSize = manifest?.chunkSize ?? store.chunkSize;
  const resized = { size: toDiskBytes + VHD_FOOTER_SIZE, chunkSize };
  // Chunks wholly below the old end are kept. Made anew: the chunk holding the old end (the old
  // disk's bytes in it, none past the old end) and those holding the new footer (one, or two if it
  // straddles a boundary). Everything between is zeros: holes.
  const firstRemade = Math.floor(fromDiskBytes / chunkSize);
  const footerChunks = [
    Math.floor(toDiskBytes / chunkSize),
    Math.floor((resized.size - 1) / chunkSize),
  ];
  const chunks: (readonly [number, ChunkHash])[] = (manifest?.chunks ?? []).filter(
    ([i]) => i < firstRemade,
  );
  for (const index of [...new Set([firstRemade, ...footerChunks])].sort((a, b) => a - b)) {
    const start = index * chunkSize;
    const data = Buffer.alloc(chunkLength(resized, index));
    const end = start + data.length;
    if (manifest && start < fromDiskBytes) {
      (await store.read(manifest, start, Math.min(end, fromDiskBytes) - start)).copy(data);
    }
    const footerFrom = Math.max(start, toDiskBytes);
    if (footerFrom < end) footer.copy(data, footerFrom - start, footerFrom - toDiskBytes);
    if (data.some((b) => b !== 0)) chunks.push([index, await store.putChunk(data)]);
  }
  await store.driver.sync();
  return { ...resized, chunks };
}
