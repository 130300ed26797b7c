/**
 * Garbage collection on a timer: every storage location in turn, one at a time, removing chunks
 * no manifest references that are older than the grace period (so an ingest in flight is never
 * robbed). Deleted disks, versions and removed replicas give their space back this way.
 */
import type { Logger } from "pino";
import type { GcReport } from "../blobs/gc.js";

export class GcSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly collect: (location: string) => Promise<GcReport>,
    private readonly locations: () => string[],
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over every location; a pass already under way is joined, not doubled. */
  runOnce(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass() {
    for (const location of this.locations()) {
      try {
        const report = await this.collect(location);
        this.logger.info({ location, ...report }, "garbage collected");
      } catch (err) {
        this.logger.error({ err, location }, "garbage collection failed");
      }
    }
  }
}
