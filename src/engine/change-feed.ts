// The outgoing side of an engine: its tracked changes read as change objects, counted, or
// encoded into payloads, on one snapshot in which the logged writes are folded into the meta rows.

import type { Change } from '../codec/payload.js';
import { type ChangeFilter, CollectedChanges, collectChanges } from './changes.js';
import type { PayloadOptions } from './engine-options.js';
import { type EncodedPayload, splitCollected } from './payload-split.js';
import type { Settings } from './settings.js';
import { foldName } from './identifiers.js';
import type { SyncedTable } from './synced-table.js';

/** What the feed needs from its engine. */
export interface FeedSource {
  readonly settings: Settings;
  /** Runs `work` on one snapshot in which every logged write is folded (see LocalLog.readFolded). */
  readFolded(work: () => void): void;
  syncedTables(): SyncedTable[];
  schemaHash(): bigint;
}

/** Reads the changes of one engine's synced tables, in (db_version, seq) order. */
export class ChangeFeed {
  constructor(private readonly source: FeedSource) {}

  /** The filtered changes as objects. */
  changes(filter: ChangeFilter = {}): Change[] {
    const collected = this.collect(filter);
    const out: Change[] = [];
    for (let j = 0; j < collected.length; j++) out.push(collected.change(j));
    return out;
  }

  /** How many changes pass the filter. */
  count(filter: ChangeFilter = {}): number {
    return this.collect(filter).length;
  }

  /** Encodes the filtered changes into one payload without building change objects; null when there are none. */
  encodePayload(filter: ChangeFilter = {}, options: PayloadOptions = {}): Uint8Array | null {
    return this.encodePayloads(filter, { ...options, maxBytes: Number.POSITIVE_INFINITY })[0]?.payload ?? null;
  }

  /**
   * Encodes the filtered changes into payloads of about `maxBytes` each (uncompressed body), in
   * order. A payload ends at a db_version boundary once it holds half of `maxBytes`, and anywhere
   * once it holds `maxBytes` (so one huge transaction still splits); a single row larger than the
   * limit travels alone. Each payload says the (db_version, seq) of its last change: the
   * watermark a receiver stores after applying it.
   */
  encodePayloads(filter: ChangeFilter = {}, options: PayloadOptions & { maxBytes?: number } = {}): EncodedPayload[] {
    return splitCollected(this.collect(filter), { schemaHash: this.source.schemaHash(), ...options });
  }

  /** Reads the filtered changes on one folded snapshot; the encoding and decoding happen after it ends. */
  private collect(filter: ChangeFilter): CollectedChanges {
    const { settings } = this.source;
    let collected: CollectedChanges | null = null;
    this.source.readFolded(() => {
      if (!settings.exist()) return;
      const wanted = filter.tables ? new Set(filter.tables.map(foldName)) : null;
      const tables = this.source.syncedTables().filter((t) => wanted === null || wanted.has(foldName(t.name)));
      // A site this database never heard of matches no change (-1 is no ordinal).
      const ordinalOf = (id: Uint8Array) => settings.findSiteOrdinal(id) ?? -1;
      const only = filter.site === undefined ? null : filter.site === 'local' ? 0 : ordinalOf(filter.site);
      const excluded = filter.excludeSite === undefined ? null : ordinalOf(filter.excludeSite);
      const sites = filter.keepLast ? { only, except: null, skip: excluded } : { only, except: excluded };
      collected = collectChanges(tables, filter, (ordinal) => settings.siteId(ordinal), sites);
    });
    return collected ?? new CollectedChanges((ordinal) => settings.siteId(ordinal));
  }
}
