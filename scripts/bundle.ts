/**
 * Bundles the `ocg` command into one file, replacing tsc's `dist/cli/ocg.js` (run after tsc, by
 * `npm run build`). Node 20 loads ES modules one file at a time, resolving, reading and compiling
 * each: the ~1,000 files of the server's dependencies (Kysely and TypeBox alone ~550) cost most
 * of a start. One file starts the same code several times faster (see BENCHMARKS.md, start-up).
 *
 * Left outside the bundle: the native SQLite binding (found through its package's own paths),
 * and what only some starts load, on demand: the PostgreSQL driver and the certificate library
 * (first start only).
 *
 * Usage: tsx scripts/bundle.ts [outfile]   (default dist/cli/ocg.js)
 */
import { chmod } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const root = resolve(import.meta.dirname, "..");

export async function bundle(outfile = resolve(root, "dist/cli/ocg.js")) {
  await build({
    entryPoints: [resolve(root, "src/cli/ocg.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    external: ["better-sqlite3", "pg", "@peculiar/x509", "reflect-metadata"],
    // CommonJS dependencies inside an ES module bundle still call require() for node's modules.
    banner: {
      js: 'import { createRequire as __ocgCreateRequire } from "node:module";\nconst require = __ocgCreateRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  // Run through its `#!` line (by `npm start` and as `ocg`), which carries node's flags.
  await chmod(outfile, 0o755);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await bundle(process.argv[2] && resolve(process.argv[2]));
}
