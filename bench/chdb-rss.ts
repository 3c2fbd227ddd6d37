/**
 * What embedded chDB itself takes: resident memory of this process before chDB is loaded,
 * after its library is loaded, and after it has opened an empty store (schema created, engine
 * started, one query answered). Printed as JSON, each point split as rssSplit gives it, in bytes.
 *
 *   tsx bench/chdb-rss.ts DATA_DIR
 */
import { createRequire } from 'node:module';
import pino from 'pino';
import { acquireStore } from '../storage/store.ts';
import { rssSplit } from './report.ts';

const [dir] = process.argv.slice(2);
const at = () => rssSplit(process.pid) ?? { rss: 0, anon: 0, file: 0 };
// The storage modules are loaded by now; chDB itself is loaded only when a store is opened.
const before = at();
createRequire(import.meta.url)('chdb');
const loaded = at();
const store = await acquireStore({ path: dir, database: 'hearth', retentionDays: 0 }, pino({ level: 'silent' }));
await store.connection.client.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((r) => r.json());
const opened = at();
await store.release();
console.log(JSON.stringify({ before, loaded, opened }));
