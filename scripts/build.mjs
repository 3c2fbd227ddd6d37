/**
 * Compiles the `hearth` command to plain JavaScript in dist/, which `npm start` runs.
 *
 * Running the TypeScript sources through tsx keeps tsx's module loader, with a V8 heap of its
 * own on a second thread, in the server for its whole life: about 45 MB of resident memory
 * that a compiled start does not have. Tests and the other scripts keep using tsx.
 *
 * Packages stay in node_modules (not bundled). Code splitting keeps every `import()` in the
 * sources a separate file, so what the CLI loads only when needed stays unloaded until then.
 * A module that starts a worker from `new URL('./x.ts', import.meta.url)` gets the compiled
 * worker instead; each such worker has to be listed in WORKERS.
 *
 * This file is plain JavaScript so that building needs nothing but node and esbuild.
 *
 *   node scripts/build.mjs
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(root, 'dist');

/** Files started as worker threads by URL; each becomes dist/<name>.js beside the chunks. */
const WORKERS = ['formats/flamegraph/flamegraph-worker.ts'];

const workerNames = new Map(WORKERS.map((w) => [resolve(root, w), basename(w, '.ts')]));

const WORKER_URL = /new URL\(\s*(['"])(\.{1,2}\/[^'"]+\.ts)\1\s*,\s*import\.meta\.url\s*\)/g;

/** Points `new URL('./worker.ts', import.meta.url)` at the compiled worker. */
const workerUrls = {
  name: 'worker-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const errors = [];
      const contents = text.replace(WORKER_URL, (whole, quote, spec) => {
        const name = workerNames.get(resolve(dirname(args.path), spec));
        if (name === undefined) {
          errors.push({ text: `${spec} is loaded by URL but is not listed in WORKERS in scripts/build.mjs` });
          return whole;
        }
        // Every output file is directly in dist/, so the chunk holding this code finds it beside itself.
        return `new URL(${quote}./${name}.js${quote}, import.meta.url)`;
      });
      return { contents, loader: 'ts', errors };
    });
  },
};

await esbuild.build({
  absWorkingDir: root,
  entryPoints: [{ in: 'bin/hearth.ts', out: 'hearth' }, ...[...workerNames].map(([path, name]) => ({ in: path, out: name }))],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [workerUrls],
});
