// Helpers shared by the benchmarks: timing, medians, percentiles, Markdown tables, and a server
// child process with its memory and CPU.

import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

/** The compiled CLI (the benchmarks run from dist-bench). */
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');

/** Milliseconds that `work` takes. */
export function time(work: () => void): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The median of `values` (the upper one of an even count); 0 for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Prints a Markdown table, columns padded to their widest cell, after `title` when given. */
export function printTable(title: string | null, header: readonly string[], rows: readonly string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  if (title !== null) console.log(title);
  console.log(format(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(format(r));
}

/** A `sqlite-sync serve` child process. */
export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the compiled CLI's `serve` (log level warn, no line per request, unless `logFile`) and waits for its address. */
export function startServer(dataDir: string, nodeOptions: string[] = [], serveOptions: string[] = [], logFile?: string): Promise<ServerProcess> {
  const log = logFile ? openSync(logFile, 'a') : 'inherit';
  const child = spawn(process.execPath, [...nodeOptions, CLI, 'serve', '--data', dataDir, '--port', '0', '--log-level', logFile ? 'info' : 'warn', ...serveOptions], { stdio: ['ignore', log, 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match && child.pid !== undefined) {
        resolve({ url: match[1] as string, pid: child.pid, stop: () => (child.kill('SIGTERM'), exited) });
      }
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${stderr}`)));
  });
}

/** Resident memory of a process, in bytes. */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Busy CPU time of the whole machine (all cores), in ms: the first line of /proc/stat without idle and iowait. */
export function machineCpuMs(): number {
  const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const busy = ticks.reduce((n, t, i) => (i === 3 || i === 4 || i >= 8 ? n : n + t), 0);
  return (busy * 1000) / 100;
}

/** CPU time a process used so far (user + system), in ms. */
export function cpuMsOf(pid: number): number {
  // fields 14 and 15 of /proc/<pid>/stat (after the parenthesised command): utime and stime in ticks
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The p-th percentile of sorted values (nearest rank); 0 for none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/**
 * PostgreSQL for a benchmark: fresh databases in PG_URL's server, or in a throwaway cluster with
 * PostgreSQL's durable defaults (fsync on), started on first use and stopped by stop().
 */
export function benchPostgres(): { location(): Promise<string>; stop(): void } {
  let stopCluster: (() => void) | null = null;
  let base = process.env.PG_URL ?? null;
  return {
    async location() {
      if (!base) {
        const { startPostgres } = (await import(join(import.meta.dirname, '..', '..', 'scripts', 'postgres.mjs'))) as typeof import('../scripts/postgres.mjs');
        const started = await startPostgres({ durable: true });
        if (started.skip !== undefined) throw new Error(started.skip);
        stopCluster = () => started.stop();
        base = started.url;
      }
      const name = `bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      const url = new URL(base);
      url.pathname = `/${name}`;
      return url.toString();
    },
    stop() {
      stopCluster?.();
    },
  };
}
