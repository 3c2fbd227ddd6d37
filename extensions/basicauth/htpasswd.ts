/**
 * htpasswd files as Apache's `htpasswd -B` writes them: one `user:bcrypt-hash` per line. Only
 * bcrypt is accepted; the older schemes (crypt, MD5, SHA-1, plain) are too fast to guess against.
 */
import { tenantOf } from '../../core/http.ts';

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** User name → bcrypt hash. Throws naming the line (never the hash) of the first problem. */
export function parseHtpasswd(text: string, source: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    try {
      // The user name is the tenant (Grafana Cloud's convention), so it must be a valid tenant ID.
      tenantOf({ 'x-scope-orgid': user });
    } catch (err) {
      throw new Error(`${where}: the user name is the tenant, and ${(err as Error).message.replace(/ in X-Scope-OrgID/, '')}`);
    }
    if (!BCRYPT.test(hash)) throw new Error(`${where}: the hash of ${JSON.stringify(user)} is not bcrypt ($2y$…); create it with htpasswd -B`);
    if (users.has(user)) throw new Error(`${where}: user ${JSON.stringify(user)} appears twice`);
    users.set(user, hash);
  });
  return users;
}
