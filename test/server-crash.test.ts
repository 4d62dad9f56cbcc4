// The sync server (the CLI's `serve`, a child process) killed with SIGKILL and restarted while
// devices write and sync, once in the middle of applying a 5,000-row upload, and paused while it
// applies another until the device gives up: afterwards the server and every device hold exactly
// what the devices wrote, and no cell has more versions than writes (nothing applied twice).
//
// Replay the random choices with SEED=<seed> from the output (the processes' timing still varies).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { type Change, decodePayload, decodePk, NetworkError, type SqlValue } from '../src/index.js';
import { isPostgresUrl, openServerData } from '../src/server/index.js';
import { hostedRows, STORES, type TestStore } from './support/stores.js';
import { type SyncedDb, temporaryFolder } from './support/databases.js';
import { assertSameLines, freePort, openDevice, provision, rowsOf, seededRandom, type ServerProcess, startServerProcess } from './support/sync-server.js';

const DATABASE = 'crash';
const DEVICES = 4;
const BIG = 5000;
/** The request timeout of the device whose upload the paused server holds (the others keep 30 s). */
const IMPATIENT_MS = 2000;

/** A device of this test and what it did. */
interface Device extends SyncedDb {
  name: string;
  /** Ids of the rows it created (it updates only those, so there are no conflicts). */
  own: string[];
  created: number;
  syncs: number;
  /** Failed syncs by kind. */
  failures: Map<string, number>;
  /** Requests of the sending phase in the current sync (the third is the POST that applies). */
  sending: number;
  /** A big upload asked for, written and waiting for its POST, or posted and waiting for the sync's end. */
  big: { state: 'asked' | 'written' | 'posted' | 'acknowledged'; batch: string; posted: () => void; ended: (outcome: BigOutcome) => void } | null;
}

/** How the sync of a big upload ended: its error (null for none) and whether the upload was acknowledged. */
interface BigOutcome {
  failure: unknown;
  acknowledged: boolean;
}

/** The suite on one store. */
function crashSuite(store: TestStore): void {
  /** What the devices wrote: id → final title and the number of updates of the title. */
  const expected = new Map<string, { owner: string; title: string; updates: number }>();
  const random = seededRandom();
  const folder = temporaryFolder();
  let dataDir = '';
  let removeStore: () => Promise<void> = async () => undefined;
  const devices: Device[] = [];
  let server: ServerProcess | undefined;

  after(async () => {
    await server?.stop('SIGKILL');
    for (const device of devices) device.db.close();
    await removeStore();
    folder.remove();
  });

  test(`the server killed, paused and restarted while devices sync, ${store.name} store: nothing lost, nothing applied twice`, { skip: store.skip }, async (t) => {
    t.diagnostic(`seed ${random.seed}`);
    ({ location: dataDir, remove: removeStore } = await store.create());
    const key = await provision(dataDir, DATABASE);
    const port = await freePort();
    server = await startServerProcess(dataDir, port);
    for (let i = 0; i < DEVICES; i++) {
      const options = i === 0 ? { network: { timeoutMs: IMPATIENT_MS } } : {};
      const device: Device = {
        ...openDevice(folder.path(`device-${i}.db`), server.url, DATABASE, key, undefined, options),
        name: `device-${i}`,
        own: [],
        created: 0,
        syncs: 0,
        failures: new Map(),
        sending: 0,
        big: null,
      };
      device.sync.network.on('status', (status) => {
        if (status === 'sending' && ++device.sending === 3 && device.big?.state === 'written') {
          device.big.state = 'posted';
          device.big.posted();
        }
        // the check starts only once every upload of the sync was acknowledged
        if (status === 'receiving' && device.big?.state === 'posted') device.big.state = 'acknowledged';
      });
      devices.push(device);
    }

    let writing = true;
    const unexpected: string[] = [];
    const runDevice = async (device: Device): Promise<void> => {
      while (writing) {
        writeSome(device);
        if (device.big?.state === 'asked') {
          insertBig(device, device.big.batch);
          device.big.state = 'written';
        }
        device.sending = 0;
        let failure: unknown = null;
        try {
          await device.sync.network.sync();
          device.syncs++;
        } catch (error) {
          failure = error;
          const kind = outageKind(error);
          if (kind === null) {
            unexpected.push(`${device.name}: ${error instanceof Error ? error.stack : String(error)}`);
            writing = false;
          } else {
            device.failures.set(kind, (device.failures.get(kind) ?? 0) + 1);
          }
        }
        if (device.big?.state === 'posted' || device.big?.state === 'acknowledged') {
          device.big.ended({ failure, acknowledged: device.big.state === 'acknowledged' });
          device.big = null;
        }
        await sleep(random.int(5, 40));
      }
    };
    /** Has a device write BIG rows in one transaction; resolves when their upload's POST starts and when its sync ends. */
    const askBig = (device: Device, batch: string): { posted: Promise<void>; ended: Promise<BigOutcome> } => {
      let posted: () => void = () => undefined;
      let ended: (outcome: BigOutcome) => void = () => undefined;
      const result = { posted: new Promise<void>((resolve) => (posted = resolve)), ended: new Promise<BigOutcome>((resolve) => (ended = resolve)) };
      device.big = { state: 'asked', batch, posted, ended };
      return result;
    };
    const restart = async (): Promise<void> => {
      await sleep(random.int(50, 300));
      server = await startServerProcess(dataDir, port);
    };

    const loops = devices.map(runDevice);
    const story: string[] = [];
    try {
      // 1. A kill at a random moment of ordinary traffic.
      await sleep(random.int(500, 1500));
      await server.stop('SIGKILL');
      await restart();

      // 2. The server paused (SIGSTOP) while it applies a big upload, until the device times out;
      // resumed, it finishes an apply nobody hears about, and the device sends it all again. Tried
      // again with a new batch when the pause came too late (the device got its answer).
      for (let attempt = 0; ; attempt++) {
        assert.ok(attempt < 4, 'four pauses missed the apply');
        await sleep(random.int(200, 500));
        const batch = `big${attempt}`;
        const paused = askBig(devices[0] as Device, batch);
        await within(paused.posted, 15_000, 'the paused upload never reached its POST');
        await sleep(random.int(0, 15));
        server.child.kill('SIGSTOP');
        const { failure, acknowledged } = await within(paused.ended, 15_000, 'the paused upload never ended');
        server.child.kill('SIGCONT');
        if (acknowledged) {
          story.push(`pause ${attempt} came after the upload was acknowledged`);
          continue;
        }
        assert.equal(outageKind(failure), 'TIMEOUT', `the paused upload ended otherwise: ${String(failure)}`);
        if (!(await eventually(async () => (await countRows(`device-0-${batch}-`)) === BIG, 5000))) {
          story.push(`pause ${attempt} came before the server read the upload`);
          continue;
        }
        story.push(`pause ${attempt}: the device timed out, the resumed server applied all ${BIG} rows`);
        break;
      }

      // 3. A kill while the server applies another device's big upload (all of it or none of it
      // stays). Tried again with a new batch when the kill came after the apply.
      for (let attempt = 0; ; attempt++) {
        assert.ok(attempt < 3, 'three kills missed the apply');
        await sleep(random.int(200, 500));
        const batch = `big${attempt}`;
        const killed = askBig(devices[1] as Device, batch);
        await within(killed.posted, 15_000, 'the killed upload never reached its POST');
        await sleep(random.int(10, 60));
        await server.stop('SIGKILL');
        const survived = await countRows(`device-1-${batch}-`);
        assert.ok(survived === 0 || survived === BIG, `the killed apply left ${survived} of ${BIG} rows`);
        await restart();
        if (survived === 0) {
          story.push(`kill ${attempt}: inside the apply, none of its ${BIG} rows stayed`);
          break;
        }
        story.push(`kill ${attempt} came after the apply`);
      }

      // 4. Another kill at a random moment.
      await sleep(random.int(500, 1500));
      await server.stop('SIGKILL');
      await restart();
      await sleep(random.int(500, 1500));
    } finally {
      writing = false;
      // after a failure while paused: let the devices' requests end
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGCONT');
      await Promise.all(loops);
    }
    assert.deepEqual(unexpected, [], `seed ${random.seed}: only outages may fail a sync`);
    for (const line of story) t.diagnostic(line);
    for (const device of devices) {
      t.diagnostic(`${device.name}: ${device.created} rows, ${device.syncs} syncs, failed: ${JSON.stringify(Object.fromEntries(device.failures))}`);
    }
    assert.ok(devices.some((d) => (d.failures.get('OFFLINE cut') ?? 0) > 0), 'no kill cut a sync off');

    // Settle on a server that stays up (one device also forgets its watermarks and sends
    // everything again), then stop it cleanly.
    (devices[2] as Device).sync.network.resetSyncVersion();
    for (const device of devices) {
      for (let round = 0; device.sync.network.hasUnsentChanges(); round++) {
        assert.ok(round < 10, `${device.name} still has unsent changes after 10 syncs`);
        await device.sync.network.sync();
      }
    }
    for (let round = 0; round < 2; round++) for (const device of devices) await device.sync.network.sync();
    assert.equal(await server.stop('SIGTERM'), 0, 'a clean stop exits with 0');

    const want = [...expected.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, row]) => JSON.stringify({ id, title: row.title, done: 0, owner: row.owner }));
    assert.ok(want.length > 2 * BIG + 100, `only ${want.length} rows were written`);
    const data = await openServerData(dataDir);
    try {
      assertSameLines((await hostedRows(data, DATABASE, 'todos')).sort(), [...want].sort(), `seed ${random.seed}, server rows`);
      for (const device of devices) assertSameLines(rowsOf(device), want, `seed ${random.seed}, ${device.name} rows`);

      // Nothing applied twice: the server's version of every cell a device wrote is the device's
      // own, and a title has exactly one version more than its updates.
      const peer = await data.peer(DATABASE);
      assert.ok(peer);
      const stored: Change[] = [];
      for (const { payload } of await peer.changesSince({ dbVersion: 0, seq: 0 }, Number.MAX_SAFE_INTEGER)) stored.push(...decodePayload(payload).changes);
      for (const device of devices) {
        const local = cellsOf(device.db, 'site_id = cloudsync_siteid()');
        const site = Buffer.from(device.sync.siteId() as Uint8Array);
        const remote = cellLines(stored.filter((c) => site.equals(c.siteId)));
        assertSameLines(remote, local, `seed ${random.seed}, ${device.name}'s cells on the server`);
      }
      const titles = stored.filter((c) => c.tbl === 'todos' && c.colName === 'title').map((c) => ({ id: String(decodePk(c.pk)[0]), version: c.colVersion }));
      assert.equal(titles.length, expected.size, 'title cells on the server');
      const wrong = titles.filter(({ id, version }) => version !== 1 + (expected.get(id)?.updates ?? Number.NaN));
      assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} titles have more (or fewer) versions than writes`);
    } finally {
      await data.close();
    }
  });

  /** Inserts one to four rows in a transaction, then updates up to two of its earlier rows. */
  function writeSome(device: Device): void {
    const insert = device.db.prepare('INSERT INTO todos (id, title, owner) VALUES (?, ?, ?)');
    const update = device.db.prepare('UPDATE todos SET title = ? WHERE id = ?');
    device.db.transaction(() => {
      for (let n = random.int(1, 4); n > 0; n--) insertRow(device, insert, `${device.name}-${device.created}`);
    })();
    for (let n = random.int(0, 2); n > 0; n--) {
      const id = random.pick(device.own);
      const row = expected.get(id) ?? assert.fail(`unknown row ${id}`);
      row.title = `${id} v${++row.updates}`;
      update.run(row.title, id);
    }
  }

  /** Inserts BIG rows in one transaction: one upload of about 150 KB that the server takes a while to apply. */
  function insertBig(device: Device, batch: string): void {
    const insert = device.db.prepare('INSERT INTO todos (id, title, owner) VALUES (?, ?, ?)');
    device.db.transaction(() => {
      for (let i = 0; i < BIG; i++) insertRow(device, insert, `${device.name}-${batch}-${String(i).padStart(4, '0')}`);
    })();
  }

  /** Inserts one row and records it as expected. */
  function insertRow(device: Device, insert: Database.Statement, id: string): void {
    insert.run(id, `${id} v0`, device.name);
    expected.set(id, { owner: device.name, title: `${id} v0`, updates: 0 });
    device.own.push(id);
    device.created++;
  }

  /** How many rows whose id starts with `prefix` the server holds (read from the store directly). */
  async function countRows(prefix: string): Promise<number> {
    if (isPostgresUrl(dataDir)) {
      const client = new pg.Client({ connectionString: dataDir });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${DATABASE}".todos WHERE starts_with(id, $1)`, [prefix]);
        return Number(rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    }
    const db = new Database(join(dataDir, 'databases', `${DATABASE}.db`), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT count(*) FROM todos WHERE substr(id, 1, ?) = ?').pluck().get(prefix.length, prefix) as number;
    } finally {
      db.close();
    }
  }
}

for (const store of STORES) crashSuite(store);

/**
 * What kind of outage failed a sync, or null when the error is not one: the server unreachable,
 * cut off or too slow, or an upload or download URL that the restarted server never issued.
 */
function outageKind(error: unknown): string | null {
  if (!(error instanceof NetworkError)) return null;
  if (error.code === 'OFFLINE') return /ECONNREFUSED/.test(error.message) ? 'OFFLINE refused' : 'OFFLINE cut';
  if (error.code === 'TIMEOUT') return 'TIMEOUT';
  const status = error.status ?? 0;
  if (error.code === 'HTTP' && status >= 500) return `HTTP ${status}`;
  if (error.code === 'HTTP' && status === 404 && /(upload|download) URL not found/.test(error.message)) return 'HTTP 404 transfer';
  return null;
}

/** Waits for a promise, failing after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until `condition` holds (true) or `ms` pass (false). */
async function eventually(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const deadline = performance.now() + ms; !(await condition()); await sleep(25)) {
    if (performance.now() > deadline) return false;
  }
  return true;
}

/** Every cell's version and value under a condition on a device's cloudsync_changes, in a stable order. */
function cellsOf(db: Database.Database, where: string, ...params: unknown[]): string[] {
  return db
    .prepare(`SELECT tbl, pk, col_name, col_value, col_version, cl FROM cloudsync_changes WHERE ${where}`)
    .raw()
    .all(...params)
    .map((row) => {
      const [tbl, pk, colName, colValue, colVersion, cl] = row as [string, Uint8Array, string, SqlValue, number, number];
      return { tbl, pk, colName, colValue, colVersion, cl } as Change;
    })
    .reduce<string[]>((lines, change) => lines.concat(cellLines([change])), [])
    .sort();
}

/** Cells as comparable lines (integers as numbers, keys in hex), sorted. */
function cellLines(changes: readonly Change[]): string[] {
  return changes
    .map((c) => JSON.stringify([c.tbl, Buffer.from(c.pk).toString('hex'), c.colName, typeof c.colValue === 'bigint' ? Number(c.colValue) : c.colValue, c.colVersion, c.cl]))
    .sort();
}
