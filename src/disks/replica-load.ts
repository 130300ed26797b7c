/**
 * Spreads reads of deployed disks over the replicas of their image: each read goes to the replica
 * with the fewest reads in flight (ties: the fewest bytes served so far), counted per replica in
 * this process.
 */
import type { Readable } from "node:stream";

export interface ReplicaStats {
  replica: string;
  active: number;
  bytesServed: number;
}

export class ReplicaLoad {
  private readonly stats = new Map<string, { active: number; bytesServed: number }>();

  private statsOf(replica: string) {
    let s = this.stats.get(replica);
    if (!s) {
      s = { active: 0, bytesServed: 0 };
      this.stats.set(replica, s);
    }
    return s;
  }

  /** The least-loaded of `candidates` (each named by its `replica` key). */
  pick<T extends { replica: string }>(candidates: readonly T[]): T {
    let best = candidates[0]!;
    let bestStats = this.statsOf(best.replica);
    for (const c of candidates.slice(1)) {
      const s = this.statsOf(c.replica);
      if (
        s.active < bestStats.active ||
        (s.active === bestStats.active && s.bytesServed < bestStats.bytesServed)
      ) {
        best = c;
        bestStats = s;
      }
    }
    return best;
  }

  /** Counts `stream` as a read of `replica` until it ends or is destroyed. */
  track(replica: string, stream: Readable): Readable {
    const s = this.statsOf(replica);
    s.active++;
    let open = true;
    const done = () => {
      if (!open) return;
      open = false;
      s.active--;
    };
    stream.on("data", (chunk: Buffer) => {
      s.bytesServed += chunk.length;
    });
    stream.once("close", done);
    stream.once("end", done);
    stream.once("error", done);
    return stream;
  }

  snapshot(): ReplicaStats[] {
    return [...this.stats].map(([replica, s]) => ({ replica, ...s }));
  }
}
