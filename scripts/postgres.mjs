// A throwaway PostgreSQL cluster on loopback for the tests (Debian's postgresql: initdb and pg_ctl,
// run as the postgres user when we are root, since initdb refuses root). Started once by
// run-tests.mjs, which passes its URL to the test processes in SQLITE_SYNC_TEST_PG; when it cannot
// start, SQLITE_SYNC_TEST_PG_SKIP says why and the PostgreSQL tests skip with that line.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The bin folder of the newest installed PostgreSQL, or null. */
function binFolder() {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a cluster ({ durable: true }: fsync on, for benchmarks); resolves with { url, stop(), halt(), start() } or { skip: reason }. */
export async function startPostgres(options = {}) {
  const bin = binFolder();
  if (!bin) return { skip: 'PostgreSQL tests skipped: no PostgreSQL installed (.ci/run installs Debian\'s postgresql)' };
  const root = process.getuid?.() === 0;
  const folder = mkdtempSync(join(tmpdir(), 'sqlite-sync-pg-'));
  const run = (tool, args) => {
    const command = root ? 'runuser' : join(bin, tool);
    const full = root ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args;
    execFileSync(command, full, { stdio: 'pipe', timeout: 60_000 });
  };
  try {
    if (root) chownSync(folder, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    const port = await freePort();
    run('initdb', ['-D', join(folder, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    // tests trade durability for speed; a benchmark (durable) keeps PostgreSQL's defaults
    const speed = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
    const start = () => run('pg_ctl', ['-D', join(folder, 'data'), '-l', join(folder, 'pg.log'), '-w', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -k ${folder}${speed} -c max_connections=300`, 'start']);
    start();
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      /** Stops the server (fast shutdown: sessions are cut), keeping its data for start(). */
      halt: () => run('pg_ctl', ['-D', join(folder, 'data'), '-m', 'fast', '-w', 'stop']),
      /** Starts it again on the same port and data. */
      start,
      stop: () => {
        try {
          run('pg_ctl', ['-D', join(folder, 'data'), '-m', 'immediate', 'stop']);
        } catch {
          // halted already
        } finally {
          rmSync(folder, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    return { skip: `PostgreSQL tests skipped: the throwaway server did not start (${String(error?.stderr ?? error).trim().split('\n')[0]})` };
  }
}
