// A child process of the live benchmark: COUNT live connections to one server database, either
// real devices (`devices`: in-memory databases with sqlite-sync, live, applying every push) or bare
// sockets (`idle`: a hello, then nothing but answering pings). Sends {ready} once all are in.

import Database from 'better-sqlite3';
import { WebSocket } from 'ws';
import { load } from '../src/index.js';

const [mode, url, database, key, countText, schema] = process.argv.slice(2) as [string, string, string, string, string, string];
const count = Number(countText);
const send = (message: object) => process.send?.(message);

if (mode === 'devices') {
  let connected = 0;
  for (let i = 0; i < count; i++) {
    const db = new Database(':memory:');
    const sync = load(db);
    db.exec(schema);
    sync.network.init(`${url}/${database}`);
    sync.network.setApiKey(key);
    let counted = false;
    sync.network.on('live', (state) => {
      if (state === 'connected' && !counted) {
        counted = true;
        if (++connected === count) send({ ready: count });
      }
    });
    sync.network.live({ pollIntervalMs: 600_000 });
  }
} else {
  let ready = 0;
  const site = (i: number) => i.toString(16).padStart(32, '0');
  const open = (i: number) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/cloudsync/${database}/${site(i)}/live`);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'hello', authorization: `Bearer ${key}` })));
    socket.on('message', (data) => {
      if (String(data) === '{"type":"ready"}' && ++ready === count) send({ ready: count });
    });
    socket.on('error', (error) => send({ error: String(error) }));
  };
  // a few hundred at a time, so the server's accept queue is not what is measured
  let next = 0;
  const batch = () => {
    for (let n = 0; n < 250 && next < count; n++) open(next++);
    if (next < count) setTimeout(batch, 50);
  };
  batch();
}
