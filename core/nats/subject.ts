/**
 * Subjects: `<prefix>.<tenant>.<service>`, so a consumer can filter by tenant or service
 * (`hearth.profiles.team-a.>`). Tenant and service names may hold characters that mean
 * something in a subject (`.`, `*`, `>`, spaces), so each token is escaped, reversibly:
 *
 * - `A-Z a-z 0-9 - _` stay as they are;
 * - every other character becomes `%XX` per UTF-8 byte (upper-case hex), `%` itself included;
 * - an empty name becomes `~`;
 * - a token longer than 96 characters after escaping is cut to 80 and ends with `~` and 15 hex
 *   digits of the SHA-256 of the name, so subjects stay short and distinct.
 *
 * The subject is only for routing and filtering: the tenant and labels a consumer stores come
 * from the message itself.
 */
import { createHash } from 'node:crypto';

const PLAIN = /^[A-Za-z0-9_-]+$/;
const MAX_TOKEN = 96;
const utf8 = new TextEncoder();

export function subjectToken(name: string): string {
  if (name === '') return '~';
  let out: string;
  if (PLAIN.test(name)) out = name;
  else {
    out = '';
    for (const ch of name) {
      if (/[A-Za-z0-9_-]/.test(ch)) out += ch;
      else for (const b of utf8.encode(ch)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  if (out.length <= MAX_TOKEN) return out;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 15);
  return `${out.slice(0, 80)}~${digest}`;
}

/** Inverse of subjectToken for tokens that were not shortened; undefined for a shortened one. */
export function tokenName(token: string): string | undefined {
  if (token === '~') return '';
  if (token.includes('~')) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '%') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

export function profileSubject(prefix: string, tenant: string, service: string): string {
  return `${prefix}.${subjectToken(tenant)}.${subjectToken(service)}`;
}

/** A subject prefix: dot-separated tokens without wildcards or spaces. */
export const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
