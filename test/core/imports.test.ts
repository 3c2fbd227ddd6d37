/**
 * The layering rules, checked on every import in the source tree:
 *
 * - a component (a folder under receivers/, processors/ or exporters/, or the api extension)
 *   never imports another component's folder: shared code lives in core/ or formats/;
 * - receivers never import storage/;
 * - storage never imports the API (api/) or the HTTP server (fastify).
 *
 * Imports are read as statements that start a line (`import … from '…'`, `export … from '…'`,
 * `import '…'`, over several lines too) plus dynamic `import('…')`, so a commented-out import
 * does not count and a type-only import does: depending on another component's types is
 * coupling as well.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/hearth.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

const COMPONENT_KINDS = ['receivers', 'processors', 'exporters'];
/** Extensions that live in a top-level folder of their own. */
const TOP_LEVEL_COMPONENTS = ['api'];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The component folder a path is in (`receivers/nats`, `api`), relative to the root; undefined outside components. */
function componentOf(rootDir: string, file: string): string | undefined {
  const parts = relative(rootDir, file).split(sep);
  if (COMPONENT_KINDS.includes(parts[0]) && parts.length > 2) return `${parts[0]}/${parts[1]}`;
  if (TOP_LEVEL_COMPONENTS.includes(parts[0]) && parts.length > 1) return parts[0];
  return undefined;
}

function topFolder(rootDir: string, file: string): string {
  return relative(rootDir, file).split(sep)[0];
}

interface Import {
  file: string;
  line: number;
  specifier: string;
  /** Absolute path for a relative import; undefined for a package. */
  target?: string;
}

const STATIC_IMPORT = /^(?:import|export)\b[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1|^import\s*(['"])([^'"]+)\3/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*(['"])([^'"]+)\1\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  const add = (index: number, specifier: string) => {
    const line = text.slice(0, index).split('\n').length;
    const target = specifier.startsWith('.') ? resolve(dirname(file), specifier) : undefined;
    found.push({ file, line, specifier, target });
  };
  for (const m of text.matchAll(STATIC_IMPORT)) add(m.index, m[2] ?? m[4]);
  for (const m of text.matchAll(DYNAMIC_IMPORT)) add(m.index, m[2]);
  return found;
}

/** Every broken rule in the tree under `rootDir`, as `file:line: what`. */
export function layeringViolations(rootDir: string): string[] {
  const problems: string[] = [];
  const where = (i: Import) => `${relative(rootDir, i.file)}:${i.line}: imports "${i.specifier}"`;
  const componentFiles = [...COMPONENT_KINDS, ...TOP_LEVEL_COMPONENTS].flatMap((d) => sourceFiles(join(rootDir, d)));
  for (const file of componentFiles) {
    const own = componentOf(rootDir, file);
    for (const i of importsOf(file)) {
      if (!i.target) continue;
      const other = componentOf(rootDir, i.target);
      if (own && other && other !== own) problems.push(`${where(i)}, a file of another component (${other}); move shared code to core/ or formats/`);
      if (topFolder(rootDir, file) === 'receivers' && topFolder(rootDir, i.target) === 'storage') {
        problems.push(`${where(i)}: receivers never import storage/`);
      }
    }
  }
  for (const file of sourceFiles(join(rootDir, 'storage'))) {
    for (const i of importsOf(file)) {
      if (i.target && topFolder(rootDir, i.target) === 'api') problems.push(`${where(i)}: storage never imports the API`);
      if (!i.target && (i.specifier === 'fastify' || i.specifier.startsWith('fastify/') || i.specifier.startsWith('@fastify/'))) {
        problems.push(`${where(i)}: storage never imports the HTTP server`);
      }
    }
  }
  return problems;
}

test('no component imports another component, receivers never import storage, storage never imports the API or fastify', () => {
  assert.ok(sourceFiles(join(root, 'receivers')).length > 0, 'the walk finds the receivers');
  assert.deepEqual(layeringViolations(root), []);
});

const tmp = tempDir('hearth-imports-');
after(() => tmp.remove());

test('the check finds each kind of violation, and accepts imports of core/ and formats/', () => {
  const put = (path: string, text: string) => {
    const p = join(tmp.dir, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  };
  put('core/nats/connection.ts', 'export const x = 1;\n');
  put('formats/batch/index.ts', 'export const y = 1;\n');
  put('exporters/nats/connection.ts', 'export const z = 1;\n');
  put('exporters/nats/index.ts', "import { x } from '../../core/nats/connection.ts';\nimport { z } from './connection.ts';\n");
  put(
    'receivers/nats/index.ts',
    [
      "import { x } from '../../core/nats/connection.ts';",
      "import { y } from '../../formats/batch/index.ts';",
      '// import { z } from "../../exporters/nats/connection.ts"; only a comment',
      "import type { z } from '../../exporters/nats/connection.ts';",
      "import { acquireStore } from '../../storage/store.ts';",
    ].join('\n'),
  );
  put('api/index.ts', "export { z } from '../exporters/nats/connection.ts';\n");
  put('storage/store.ts', "import type { FastifyInstance } from 'fastify';\nimport { q } from '../api/querier.ts';\n");
  assert.deepEqual(layeringViolations(tmp.dir).sort(), [
    `api/index.ts:1: imports "../exporters/nats/connection.ts", a file of another component (exporters/nats); move shared code to core/ or formats/`,
    `receivers/nats/index.ts:4: imports "../../exporters/nats/connection.ts", a file of another component (exporters/nats); move shared code to core/ or formats/`,
    `receivers/nats/index.ts:5: imports "../../storage/store.ts": receivers never import storage/`,
    `storage/store.ts:1: imports "fastify": storage never imports the HTTP server`,
    `storage/store.ts:2: imports "../api/querier.ts": storage never imports the API`,
  ]);
});
