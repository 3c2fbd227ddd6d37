/**
 * The `basicauth` extension: HTTP basic authentication against htpasswd (bcrypt) entries, with
 * Grafana Cloud's convention that the user name is the tenant. Named by `service.http.auth` or a
 * receiver's `auth`, it guards their routes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { z } from 'zod';
import { credentialsOf, ROLES, UnauthorizedError, type Authenticator, type Principal, type Role } from '../../core/auth.ts';
import type { ExtensionFactory } from '../../core/component.ts';
import { WatchedFile } from '../../core/watched-file.ts';
import { parseHtpasswd } from './htpasswd.ts';

export const schema = z
  .strictObject({
    htpasswd: z.strictObject({
      /** An htpasswd file, re-read when it changes. */
      file: z.string(),
      /** htpasswd lines written in the config itself. */
      inline: z.string(),
    }),
    /** What every user of this extension may do; declare a second basicauth for users with another role. */
    role: z.enum(ROLES),
    /** The realm browsers show in their login dialog. */
    realm: z.string().min(1).regex(/^[^"\\]*$/, 'a realm cannot contain quotes or backslashes'),
  })
  .superRefine((c, ctx) => {
    if (c.htpasswd.file === '' && c.htpasswd.inline === '') {
      ctx.addIssue({ code: 'custom', path: ['htpasswd'], message: 'set htpasswd.file or htpasswd.inline (or both)' });
      return;
    }
    try {
      parseHtpasswd(c.htpasswd.inline, 'htpasswd.inline');
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['htpasswd', 'inline'], message: (err as Error).message });
    }
  });

export type BasicAuthConfig = z.infer<typeof schema>;

export function defaultConfig(): BasicAuthConfig {
  return { htpasswd: { file: '', inline: '' }, role: 'admin', realm: 'hearth' };
}

/**
 * Verdicts remembered per (user, password), so bcrypt's deliberate cost is paid once per credential,
 * not per request. Keyed by an HMAC under a key of this process only, so the memory holds no digest
 * of a password that could be guessed against faster than bcrypt without that key.
 */
const VERDICT_CACHE_SIZE = 10_000;
/** The cost factor htpasswd -B uses; unknown users are checked against a hash of this cost so they take as long as known ones. */
const DUMMY_COST = 10;

class BasicAuthenticator implements Authenticator {
  readonly scheme = 'Basic';
  readonly challenge: string;
  private readonly inline: Map<string, string>;
  private file: WatchedFile<Map<string, string>> | undefined;
  private users = new Map<string, string>();
  private readonly verdicts = new Map<string, Promise<boolean>>();
  private readonly verdictKey = randomBytes(32);
  private readonly dummyHash = bcrypt.hashSync('', DUMMY_COST);

  constructor(
    private readonly config: BasicAuthConfig,
    private readonly logger: Logger,
  ) {
    this.challenge = `Basic realm="${config.realm}", charset="UTF-8"`;
    this.inline = parseHtpasswd(config.htpasswd.inline, 'htpasswd.inline');
  }

  async start(): Promise<void> {
    if (this.config.htpasswd.file !== '') {
      this.file = new WatchedFile(this.config.htpasswd.file, (text) => this.merge(parseHtpasswd(text, 'htpasswd')), this.logger, (users) => this.use(users));
      this.file.watch();
    }
    this.use(this.file?.current ?? this.inline);
    this.logger.info({ users: this.users.size, file: this.file?.path }, 'basic auth ready');
  }

  async shutdown(): Promise<void> {
    this.file?.close();
  }

  private merge(fromFile: Map<string, string>): Map<string, string> {
    for (const user of fromFile.keys()) {
      if (this.inline.has(user)) throw new Error(`user ${JSON.stringify(user)} is both in the file and in htpasswd.inline`);
    }
    return new Map([...this.inline, ...fromFile]);
  }

  private use(users: Map<string, string>): void {
    this.users = users;
    // A changed password or a removed user must not live on in a remembered verdict.
    this.verdicts.clear();
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const encoded = credentialsOf(headers, this.scheme);
    if (encoded === undefined) throw new UnauthorizedError('basic credentials required');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new UnauthorizedError('malformed basic credentials: expected base64 of user:password');
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (!(await this.verify(user, password))) throw new UnauthorizedError('wrong user name or password');
    return { tenants: [user], role: this.config.role as Role, name: `user ${JSON.stringify(user)}` };
  }

  private verify(user: string, password: string): Promise<boolean> {
    const key = createHmac('sha256', this.verdictKey).update(`${user}\u0000${password}`, 'utf8').digest('base64');
    const known = this.verdicts.get(key);
    if (known !== undefined) return known;
    const users = this.users;
    const hash = users.get(user);
    // bcrypt compares its digests in constant time; the dummy keeps unknown users as slow as known ones.
    const verdict = bcrypt.compare(password, hash ?? this.dummyHash).then((match) => match && hash !== undefined);
    // Remembered while still pending, so that a burst of requests with one new credential runs bcrypt once.
    if (this.verdicts.size >= VERDICT_CACHE_SIZE) this.verdicts.delete(this.verdicts.keys().next().value!);
    this.verdicts.set(key, verdict);
    // A verdict pending when the users change is dropped with the rest by use(), so it is never reused.
    void verdict.catch(() => this.verdicts.delete(key));
    return verdict;
  }

}

export const factory: ExtensionFactory<BasicAuthConfig> = {
  type: 'basicauth',
  kind: 'extension',
  stability: 'alpha',
  authenticator: true,
  schema,
  defaultConfig,
  create(settings, config) {
    return new BasicAuthenticator(config, settings.logger);
  },
};

export default factory;
