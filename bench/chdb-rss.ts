/**
 * What embedded chDB itself takes: resident memory of this process before and after it opens
 * an empty store (schema created, engine started), printed as JSON in bytes.
 *
 *   tsx bench/chdb-rss.ts DATA_DIR
 */
import pino from 'pino';
import { acquireStore } from '../storage/store.ts';
import { rssBytes } from './report.ts';

const [dir] = process.argv.slice(2);
const before = rssBytes(process.pid) ?? 0;
const store = await acquireStore({ path: dir, database: 'hearth', retentionDays: 0 }, pino({ level: 'silent' }));
await store.connection.client.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((r) => r.json());
const after = rssBytes(process.pid) ?? 0;
await store.release();
console.log(JSON.stringify({ before, after }));
