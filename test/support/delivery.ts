// The unreliable delivery of the convergence properties: payloads in flight, taken in batches for
// one replica from anywhere in the queue (reordering), and optionally left queued (duplicates).

/** Takes up to `batch` items in flight to the replica of the `pick`-th one; leaves them queued when `duplicate`. */
export function takeDelivery<T extends { to: number }>(inFlight: T[], pick: number, batch: number, duplicate: boolean): T[] {
  if (inFlight.length === 0) return [];
  const first = inFlight[pick % inFlight.length] as T;
  const taken = inFlight.filter((p) => p.to === first.to).slice(0, batch);
  if (!duplicate) for (const p of taken) inFlight.splice(inFlight.indexOf(p), 1);
  return taken;
}
