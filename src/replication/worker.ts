/**
 * The replication worker: claims replica jobs from the metadata store with leases, runs them a few
 * at a time, keeps their leases alive while they run, and records how each ended. Any number of
 * workers (in this process or others sharing the store) may run: a lease is taken by a
 * conditional update, and a worker that dies loses its jobs to the others when the lease expires.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { ReplicaRecord, ResourceRecord } from "../domain/resource.js";
import type { VersionService } from "../gallery/version-lifecycle.js";
import {
  LeaseLost,
  replicate,
  ReplicationFailure,
  SourceNotReady,
  type ReplicateDeps,
} from "./replicate.js";

export interface WorkerDeps extends ReplicateDeps {
  logger: Logger;
  /** The life cycle of each kind of version whose replicas run here (image, application). */
  versions: readonly VersionService[];
  /**
   * Runs once a replica has stored every content, before it completes (image versions: Trusted
   * Launch validation of the OS disk, done by the first replica to get there).
   */
  validate?(version: ResourceRecord, signal: AbortSignal): Promise<void>;
}

export interface WorkerOptions {
  owner?: string;
  /** How long a claimed job stays ours without renewal. */
  leaseMs?: number;
  /** Jobs run at once by this worker. */
  concurrency?: number;
  /** How often to look for work when nobody wakes us. */
  pollMs?: number;
  /** Attempts before a replica is marked Failed. */
  maxAttempts?: number;
}

const PROGRESS_WRITE_MS = 500;

export class ReplicationWorker {
  readonly owner: string;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly maxAttempts: number;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(
    private readonly deps: WorkerDeps,
    options: WorkerOptions = {},
  ) {
    this.owner = options.owner ?? `worker-${randomUUID()}`;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.concurrency = options.concurrency ?? 4;
    this.pollMs = options.pollMs ?? 2_000;
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Looks for work now (after a write queued some). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Stops claiming, aborts running jobs and hands their leases back. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    for (const { abort } of this.running.values()) abort.abort();
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      let claimed: ReplicaRecord | undefined;
      if (this.running.size < this.concurrency) {
        try {
          claimed = await this.deps.store.replicas.claim(this.owner, Date.now(), this.leaseMs);
        } catch (err) {
          this.deps.logger.error({ err }, "claiming a replication job failed");
        }
      }
      if (claimed) {
        this.launch(claimed);
        continue;
      }
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        timer.unref();
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }

  private launch(job: ReplicaRecord) {
    const id = `${job.resourceKey}|${job.region}|${job.ordinal}`;
    const abort = new AbortController();
    const done = this.runJob(job, abort)
      .catch((err: unknown) => this.deps.logger.error({ err, job: id }, "replication job crashed"))
      .finally(() => {
        this.running.delete(id);
        this.wake();
      });
    this.running.set(id, { abort, done });
  }

  private async runJob(claimed: ReplicaRecord, abort: AbortController): Promise<void> {
    const { store, logger } = this.deps;
    let job: ReplicaRecord = { ...claimed, state: "Replicating" };
    // Every write of the job's row goes through here, one at a time, and proves we still hold
    // the lease; losing it (the version was deleted, or the lease expired and another worker
    // took over) stops the job.
    let writes = Promise.resolve(true);
    const save = (change: Partial<ReplicaRecord>) => {
      writes = writes
        .then(async (held) => {
          if (!held) return false;
          job = { ...job, ...change, updatedAt: new Date().toISOString() };
          const ok = await store.replicas.update(job, this.owner);
          if (!ok) abort.abort(new Error("lease lost"));
          return ok;
        })
        .catch((err: unknown) => {
          // The store failed us: stop the job; its lease runs out and it is taken up again.
          logger.error({ err, version: job.resourceKey }, "recording a replication job failed");
          abort.abort(err);
          return false;
        });
      return writes;
    };
    const renew = () => save({ leaseExpiresAt: Date.now() + this.leaseMs });
    const timer = setInterval(() => void renew(), Math.max(250, this.leaseMs / 3));
    timer.unref();
    let lastWrite = 0;
    let lifecycle: VersionService | undefined;
    try {
      if (!(await save({ state: "Replicating" }))) return;
      const version = await store.resources.get(job.resourceKey);
      if (!version) return;
      lifecycle = this.lifecycleOf(version);
      const started = performance.now();
      const tally = await replicate(this.deps, job, version, abort.signal, (p) => {
        const progress = Math.min(99, Math.floor((100 * p.done) / Math.max(1, p.total)));
        if (Date.now() - lastWrite >= PROGRESS_WRITE_MS && progress !== job.progress) {
          lastWrite = Date.now();
          void save({ progress, leaseExpiresAt: Date.now() + this.leaseMs });
        }
      });
      // The content is now stored here, so the first replica to get this far validates it.
      await this.deps.validate?.(version, abort.signal);
      clearInterval(timer);
      if (!(await writes)) return;
      await lifecycle.replicaCompleted(job, this.owner);
      logger.info(
        {
          version: version.id,
          region: job.region,
          ordinal: job.ordinal,
          ...tally,
          ms: Math.round(performance.now() - started),
        },
        "replica completed",
      );
    } catch (err) {
      clearInterval(timer);
      await this.failed(job, lifecycle, err, abort.signal.aborted, save);
    }
  }

  /** The life cycle of `version`'s kind. */
  private lifecycleOf(version: ResourceRecord): VersionService {
    const found = this.deps.versions.find((v) => v.type === version.type);
    if (!found) {
      throw new ReplicationFailure(`No replication is known for ${version.type} (${version.id}).`);
    }
    return found;
  }

  private async failed(
    job: ReplicaRecord,
    lifecycle: VersionService | undefined,
    err: unknown,
    aborted: boolean,
    save: (change: Partial<ReplicaRecord>) => Promise<boolean>,
  ) {
    if (err instanceof SourceNotReady) {
      await save({ leaseOwner: null, leaseExpiresAt: Date.now() + 1_000 });
      return;
    }
    if (aborted || err instanceof LeaseLost) {
      // Stopped or lease lost: hand the job back at once (if it is still ours) for whoever runs next.
      await save({ leaseOwner: null, leaseExpiresAt: null });
      return;
    }
    const attempts = job.attempts + 1;
    const message = err instanceof Error ? err.message : String(err);
    this.deps.logger.warn(
      { err, version: job.resourceKey, region: job.region, attempts },
      "replication attempt failed",
    );
    if (err instanceof ReplicationFailure || attempts >= this.maxAttempts) {
      const code = err instanceof ReplicationFailure ? err.code : "ReplicationFailed";
      if (
        await save({
          state: "Failed",
          details: message,
          attempts,
          leaseOwner: null,
          leaseExpiresAt: null,
        })
      ) {
        await lifecycle?.replicaFailed(job, { code, message });
      }
      return;
    }
    await save({
      details: message,
      attempts,
      leaseOwner: null,
      leaseExpiresAt: Date.now() + 1_000 * 2 ** attempts,
    });
  }
}

export type { ResourceRecord };
