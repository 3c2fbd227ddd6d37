/**
 * The `bearertokenauth` extension: `Authorization: Bearer TOKEN`, each token naming its tenants and
 * role (write, read or admin). Tokens come from the config and from a tokens file re-read when it
 * changes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { credentialsOf, sha256, UnauthorizedError, type Authenticator, type Principal } from '../../core/auth.ts';
import type { ExtensionFactory } from '../../core/component.ts';
import { WatchedFile } from '../../core/watched-file.ts';
import { parseTokensFile, storeTokens, tokenEntrySchema, type StoredToken } from './tokens.ts';

export const schema = z
  .strictObject({
    /** A YAML file `tokens: [{token, tenant | tenants, role}]`, re-read when it changes. */
    tokens_file: z.string(),
    /** Tokens written in the config itself (use ${env:…} for the secret). */
    tokens: z.array(tokenEntrySchema),
  })
  .refine((c) => c.tokens_file !== '' || c.tokens.length > 0, { message: 'set tokens_file or tokens (or both)', path: ['tokens_file'] });

export type BearerTokenAuthConfig = z.infer<typeof schema>;

export function defaultConfig(): BearerTokenAuthConfig {
  return { tokens_file: '', tokens: [] };
}

class BearerTokenAuthenticator implements Authenticator {
  readonly scheme = 'Bearer';
  readonly challenge = 'Bearer realm="hearth"';
  private readonly inline: StoredToken[];
  private file: WatchedFile<StoredToken[]> | undefined;
  private tokens: StoredToken[] = [];

  constructor(
    private readonly config: BearerTokenAuthConfig,
    private readonly logger: Logger,
  ) {
    this.inline = storeTokens(config.tokens, 'tokens');
    this.tokens = this.inline;
  }

  async start(): Promise<void> {
    if (this.config.tokens_file !== '') {
      const combine = (text: string) => {
        const fromFile = storeTokens(parseTokensFile(text), 'tokens_file');
        for (const t of fromFile) if (this.inline.some((i) => timingSafeEqual(i.digest, t.digest))) throw new Error('a token of the file is also in the config');
        return [...this.inline, ...fromFile];
      };
      this.file = new WatchedFile(this.config.tokens_file, combine, this.logger, (tokens) => (this.tokens = tokens));
      this.tokens = this.file.current;
      this.file.watch();
    }
    this.logger.info({ tokens: this.tokens.length, file: this.file?.path }, 'bearer token auth ready');
  }

  async shutdown(): Promise<void> {
    this.file?.close();
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const token = credentialsOf(headers, this.scheme);
    if (!token) throw new UnauthorizedError('a bearer token is required');
    const digest = sha256(token);
    // Every stored token is compared, matched or not, so the time taken says nothing about which one matched.
    let found: StoredToken | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.digest, digest) && !found) found = t;
    if (!found) throw new UnauthorizedError('unknown bearer token');
    return found.principal;
  }
}

export const factory: ExtensionFactory<BearerTokenAuthConfig> = {
  type: 'bearertokenauth',
  kind: 'extension',
  stability: 'alpha',
  authenticator: true,
  schema,
  defaultConfig,
  create(settings, config) {
    return new BearerTokenAuthenticator(config, settings.logger);
  },
};

export default factory;
