// Sync servers listening in this thread. The blocking SQL functions cannot reach one (the thread
// that would answer is the one waiting), so they refuse at once instead of timing out.

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1', '0.0.0.0', '[::]']);
const ports = new Map<number, number>();

/** Records a server of this thread listening on `port` (loopback or any interface). */
export function addSameThreadServer(port: number): void {
  ports.set(port, (ports.get(port) ?? 0) + 1);
}

/** Forgets a server recorded by addSameThreadServer. */
export function removeSameThreadServer(port: number): void {
  const count = (ports.get(port) ?? 0) - 1;
  if (count > 0) ports.set(port, count);
  else ports.delete(port);
}

/** True when `origin` (`http://host:port`) is a loopback address of a server in this thread. */
export function isSameThreadServer(origin: string): boolean {
  if (ports.size === 0) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return ports.has(port) && LOOPBACK.has(url.hostname);
}
