/**
 * Which credential the CLI sends: flags over the environment, one kind at a time, and the
 * Authorization header each kind makes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remoteOf, UsageError } from '../../bin/commands/remote.ts';

test('a flag credential replaces the other kind from the environment; two kinds at once are a usage error', () => {
  assert.deepEqual(remoteOf({ user: 'tenant-a', password: 'p' }, { HEARTH_TOKEN: 't' }), { url: 'http://localhost:4040', tenant: undefined, token: undefined, user: 'tenant-a', password: 'p' });
  assert.equal(remoteOf({ token: 'x' }, { HEARTH_USER: 'u', HEARTH_PASSWORD: 'p' }).user, undefined);
  assert.deepEqual(remoteOf({}, { HEARTH_USER: 'u', HEARTH_PASSWORD: 'p' }), { url: 'http://localhost:4040', tenant: undefined, token: undefined, user: 'u', password: 'p' });
  assert.throws(() => remoteOf({ user: 'u', token: 't' }, {}), UsageError);
  assert.throws(() => remoteOf({}, { HEARTH_USER: 'u', HEARTH_TOKEN: 't' }), /either --token or --user\/--password/);
  assert.throws(() => remoteOf({ password: 'x' }, {}), /--password needs --user/);
  assert.throws(() => remoteOf({ user: 'a:b' }, {}), /cannot contain ":"/);
  // A user without a password sends an empty one, as curl -u user: does.
  assert.equal(remoteOf({ user: 'u' }, {}).password, '');
});
