// A download from PostgreSQL, inside the caller's REPEATABLE READ snapshot: each table's meta rows
// from the device's db_version on, joined to their base rows, go through the engine's collector
// (the same rules as a SQLite peer's changes feed) and are split into payloads.

import type { PoolClient } from 'pg';
import { CollectedChanges, collectRows } from '../../../engine/changes.js';
import type { EncodedPayload } from '../../../engine/cloudsync.js';
import { splitCollected } from '../../../engine/payload-split.js';
import { pastNewestError, type Position } from '../storage.js';
import { fromPg, pgName } from './pg-layout.js';
import type { HostedTable } from './pg-hosted-table.js';
import type { PgSites } from './pg-sites.js';

/** The hosted database a download reads. */
export interface DownloadSource {
  readonly sites: PgSites;
  tables(): readonly HostedTable[];
  schemaHash(): bigint;
}

/**
 * The changes after `since` (stored: the snapshot's db_version), split at about `maxBytes`;
 * `skipSite`'s own changes are left out but for the very last, which moves its watermark.
 */
export async function collectDownload(client: PoolClient, source: DownloadSource, since: Position, maxBytes: number, skipSite: Uint8Array | null, stored: number): Promise<EncodedPayload[]> {
  if (skipSite !== null && since.dbVersion > stored) throw pastNewestError(since, stored);
  await source.sites.sync(client);
  const skipped = skipSite === null ? null : source.sites.ordinalOf(skipSite);
  const collected = new CollectedChanges((ordinal) => source.sites.idOf(ordinal));
  for (const table of source.tables()) {
    const keyCount = table.shape.pk.length;
    const columns = table.columns.map((c) => `, b.${pgName(c.name)}`).join('');
    const { rows } = await client.query({
      text: `SELECT ${table.shape.pk.map((_, i) => `m.pk${i + 1}`).join(', ')}, m.clocks, b.${pgName(table.shape.pk[0]?.name ?? '')} IS NOT NULL${columns} FROM ${table.meta} AS m LEFT JOIN ${table.base} AS b ON ${table.metaJoin} WHERE m.db_version >= $1`,
      values: [since.dbVersion],
      rowMode: 'array',
    });
    const converted = (rows as unknown[][]).map((row) => {
      const out: unknown[] = table.keyOf(row);
      out.push(row[keyCount], row[keyCount + 1] === true ? 1 : 0);
      table.columns.forEach((c, i) => out.push(fromPg(row[keyCount + 2 + i], c.kind)));
      return out;
    });
    collectRows(table, converted, since.dbVersion, since.seq, { only: null, except: null }, collected);
  }
  collected.sort(skipped);
  return splitCollected(collected, { schemaHash: source.schemaHash(), maxBytes });
}
