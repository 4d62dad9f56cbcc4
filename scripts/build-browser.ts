// Builds the browser entry (sqlite-sync/browser) with esbuild: the page module, the worker
// module (SQLite's WebAssembly build bundled in) and sqlite3.wasm beside them, in dist/browser
// or the folder given. `npm run build` runs it after tsc, which writes the type declarations.

import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds into `outdir`; returns the paths of the page module and the worker. */
export async function buildBrowser(outdir = join(root, 'dist', 'browser')): Promise<{ page: string; worker: string }> {
  mkdirSync(outdir, { recursive: true });
  const common = { outdir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true, logLevel: 'warning' } as const;
  await build({ ...common, entryPoints: { index: join(root, 'src/browser/index.ts'), worker: join(root, 'src/browser/worker.ts') } });
  // the React entry: react stays the app's own
  await build({ ...common, entryPoints: { react: join(root, 'src/react/index.ts') }, external: ['react'] });
  const wasm = join(dirname(createRequire(import.meta.url).resolve('@sqlite.org/sqlite-wasm')), 'sqlite3.wasm');
  copyFileSync(wasm, join(outdir, 'sqlite3.wasm'));
  return { page: join(outdir, 'index.js'), worker: join(outdir, 'worker.js') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildBrowser(process.argv[2]);
  process.stdout.write(`built ${out.page} and ${out.worker}\n`);
}
