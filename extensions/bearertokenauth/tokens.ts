/**
 * Bearer tokens and what each may do: `{ token, tenant | tenants, role }`, in the config or in a
 * YAML tokens file of the same shape under `tokens:`.
 */
import { parse } from 'yaml';
import { z } from 'zod';
import { ROLES, sha256, type Principal } from '../../core/auth.ts';
import { tenantOf } from '../../core/http.ts';

/** Shorter tokens could be guessed; 16 characters of a random token are 80+ bits. */
export const MIN_TOKEN_LENGTH = 16;

const tenantId = z.string().superRefine((t, ctx) => {
  try {
    tenantOf({ 'x-scope-orgid': t });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/ in X-Scope-OrgID/, '') });
  }
});

export const tokenEntrySchema = z
  .strictObject({
    token: z.string().min(MIN_TOKEN_LENGTH, `a token has at least ${MIN_TOKEN_LENGTH} characters`).regex(/^\S+$/, 'a token has no spaces'),
    /** Optional label shown in logs and refusals instead of the token. */
    name: z.string().optional(),
    tenant: tenantId.optional(),
    tenants: z.array(tenantId).min(1).optional(),
    role: z.enum(ROLES),
  })
  .refine((e) => (e.tenant === undefined) !== (e.tenants === undefined), { message: 'give either tenant or tenants' });

export type TokenEntry = z.infer<typeof tokenEntrySchema>;

export const tokensFileSchema = z.strictObject({ tokens: z.array(tokenEntrySchema) });

/** A token kept as its SHA-256 digest, compared in constant time, with the principal it stands for. */
export interface StoredToken {
  digest: Buffer;
  principal: Principal;
}

export function storeTokens(entries: readonly TokenEntry[], source: string): StoredToken[] {
  const seen = new Set<string>();
  return entries.map((e, i) => {
    const digest = sha256(e.token);
    const hex = digest.toString('hex');
    if (seen.has(hex)) throw new Error(`${source}: tokens[${i}] repeats an earlier token`);
    seen.add(hex);
    const tenants = e.tenants ?? [e.tenant!];
    return { digest, principal: { tenants, role: e.role, name: e.name ?? `token ${i + 1} of ${source} (tenant ${tenants[0]})` } };
  });
}

/** Parses a tokens file; errors name the entry and key, never a token. */
export function parseTokensFile(text: string): TokenEntry[] {
  const data: unknown = parse(text) ?? { tokens: [] };
  const r = tokensFileSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${issue.path.join('.') || 'top level'}: ${issue.message}`);
  }
  return r.data.tokens;
}
