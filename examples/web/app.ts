// The to-do page of `npm run demo:web`: one device per origin, its database in a worker on the
// origin private file system, synced through the demo server every two seconds while online.

import { type BrowserDatabase, openDatabase } from '../../src/browser/index.js';

interface DemoConfig {
  server: string;
  database: string;
  key: string;
  device: string;
}

// The little of the DOM this page uses, typed here: the project compiles without the DOM library.
interface Node {
  textContent: string | null;
  value: string;
  checked: boolean;
  type: string;
  replaceChildren(...nodes: Node[]): void;
  append(...nodes: Node[]): void;
  onclick: (() => void) | null;
  onchange: (() => void) | null;
  onsubmit: ((event: { preventDefault(): void }) => void) | null;
}
declare const document: { title: string; querySelector(selector: string): Node; createElement(tag: string): Node };

const config = (await (await fetch('/config.json')).json()) as DemoConfig;
const $ = (selector: string) => document.querySelector(selector);
document.title = `${config.device} — sqlite-sync to-dos`;
$('#device').textContent = config.device;

const db: BrowserDatabase = await openDatabase({ name: 'todos.db' });
await db.exec(`CREATE TABLE IF NOT EXISTS todos (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL DEFAULT '', done INTEGER NOT NULL DEFAULT 0);
  SELECT cloudsync_init('todos')`);
await db.network.init(`${config.server}/${config.database}`);
await db.network.setApiKey(config.key);

async function render(): Promise<void> {
  const rows = await db.query('SELECT id, title, done FROM todos ORDER BY title');
  const list = $('#list');
  list.replaceChildren(
    ...rows.map((row) => {
      const item = document.createElement('li');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = row.done === 1;
      box.onchange = () => void db.exec('UPDATE todos SET done = ? WHERE id = ?', [box.checked ? 1 : 0, row.id as string]);
      const label = document.createElement('span');
      label.textContent = String(row.title);
      const remove = document.createElement('button');
      remove.textContent = '×';
      remove.onclick = () => void db.exec('DELETE FROM todos WHERE id = ?', [row.id as string]);
      item.append(box, label, remove);
      return item;
    }),
  );
  $('#unsent').textContent = (await db.network.hasUnsentChanges()) ? 'changes waiting to be sent' : 'all changes sent';
}

db.subscribe(() => void render(), ['todos']);
db.onStatus((status, error) => ($('#status').textContent = error ? `${status}: ${error.message}` : status));
db.onProgress((progress) => ($('#progress').textContent = JSON.stringify(progress)));

$('#add').onsubmit = (event) => {
  event.preventDefault();
  const input = $('#title');
  if (input.value.trim() !== '') void db.exec('INSERT INTO todos (id, title) VALUES (cloudsync_uuid(), ?)', [input.value.trim()]);
  input.value = '';
};
const offline = $('#offline');
offline.onchange = async () => {
  if (offline.checked) {
    await db.network.stopAutoSync();
    $('#status').textContent = 'offline (by choice): changes stay here until you go online';
  } else {
    await db.network.startAutoSync({ intervalMs: 2000 });
  }
};
await db.network.startAutoSync({ intervalMs: 2000 });
await render();
