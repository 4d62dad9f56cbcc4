// A small typed event emitter that runs in Node and in browsers alike (node:events does not
// bundle for the browser, and EventTarget cannot carry typed arguments).

type Listener = (...args: unknown[]) => void;

/** Listeners by event name; `Events` maps each name to its argument list. */
export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  // stored untyped: each set holds the listeners of one event, whose arguments `on` checked
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  /** Calls `listener` on every `event`; returns this. */
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as Listener);
    return this;
  }

  /** Calls `listener` on the next `event` only; returns this. */
  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    const wrapped = (...args: Events[K]) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  /** Stops calling `listener`; returns this. */
  off<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    this.listeners.get(event)?.delete(listener as unknown as Listener);
    return this;
  }

  /** Calls the listeners of `event` in the order they were added; true when there was one. */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) listener(...args);
    return true;
  }
}
