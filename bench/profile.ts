/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and tells where the time went: self time by area
 * (ocg's own files, each npm package, node internals, GC) and the functions with the most self
 * and inclusive time. Samples can be limited to a window of the monotonic clock (microseconds, the
 * clock of `process.hrtime`), so that one phase of the benchmark is read on its own.
 * Usage: tsx bench/profile.ts <file.cpuprofile> [fromMicros toMicros]
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Milliseconds of samples inside the window, idle excluded. */
  busyMs: number;
  idleMs: number;
  byArea: { area: string; selfMs: number; share: number }[];
  selfTop: { fn: string; selfMs: number; share: number }[];
  inclusiveTop: { fn: string; totalMs: number; share: number }[];
}

/** `node_modules/<pkg>`, `ocg <file>`, `node:<module>` or V8's own pseudo-frames. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const parts = url.slice(nm + "/node_modules/".length).split("/");
    return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.startsWith("node:")) return url;
  const src = /\/(?:dist|src)\/(.*)$/.exec(url);
  return src ? `ocg ${src[1]}` : url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  const src = /\/((?:dist|src)\/.*)$/.exec(url);
  return src ? src[1]! : url;
}

const fnName = (f: CallFrame) =>
  f.url
    ? `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`
    : f.functionName;

export function summarize(
  profile: CpuProfile,
  window?: { fromMicros: number; toMicros: number },
  top = 15,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window.fromMicros || t > window.toMicros)) continue;
    // A sample stands for the time until the next one.
    const weight = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + weight);
  }

  let idle = 0;
  const areas = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, micros] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += micros;
      continue;
    }
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + micros);
    const name = fnName(frame);
    selfByFn.set(name, (selfByFn.get(name) ?? 0) + micros);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.functionName === "(root)") continue;
      const key = fnName(f);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
  }
  const busy = [...areas.values()].reduce((a, b) => a + b, 0);
  const rank = <K extends string>(m: Map<string, number>, key: K, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({ name, ms: micros / 1000, share: busy ? micros / busy : 0, key }));
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    byArea: rank(areas, "area", top).map((r) => ({
      area: r.name,
      selfMs: r.ms,
      share: r.share,
    })),
    selfTop: rank(selfByFn, "fn", top).map((r) => ({ fn: r.name, selfMs: r.ms, share: r.share })),
    inclusiveTop: rank(inclusive, "fn", top).map((r) => ({
      fn: r.name,
      totalMs: r.ms,
      share: r.share,
    })),
  };
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}

const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;

export function formatSummary(title: string, s: ProfileSummary): string {
  const lines = [
    `${title}: ${s.busyMs.toFixed(0)} ms busy, ${s.idleMs.toFixed(0)} ms idle`,
    "  self time by area:",
    ...s.byArea.map((a) => `    ${pct(a.share)}  ${a.area}`),
    "  top functions, self time:",
    ...s.selfTop.map((f) => `    ${pct(f.share)}  ${f.fn}`),
    "  top functions, inclusive time:",
    ...s.inclusiveTop.map((f) => `    ${pct(f.share)}  ${f.fn}`),
  ];
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, from, to] = process.argv.slice(2);
  if (!file) {
    process.stderr.write("usage: tsx bench/profile.ts <file.cpuprofile> [fromMicros toMicros]\n");
    process.exit(2);
  }
  const window =
    from !== undefined && to !== undefined
      ? { fromMicros: Number(from), toMicros: Number(to) }
      : undefined;
  process.stdout.write(formatSummary(file, summarize(readProfile(file), window, 25)) + "\n");
}
