/**
 * The asynchronous bounded gunzip that receivers use: the same limits and errors as the
 * synchronous one, with the limit held while inflating.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { BadRequestError, ProfileTooLargeError } from '../../core/errors.ts';
import { inflateBounded, inflateBoundedAsync } from '../../formats/gzip.ts';

const data = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 251));
const gz = gzipSync(data);

test('inflates within the limit, to the same bytes as the synchronous form', async () => {
  const out = await inflateBoundedAsync(gz, 5000);
  assert.ok(Buffer.from(out).equals(data));
  assert.ok(Buffer.from(out).equals(Buffer.from(inflateBounded(gz, 5000))));
});

test('a large body gives the same bytes and errors', async () => {
  // Incompressible, so that the body inflates in several of zlib's chunks.
  const big = randomBytes(200_000);
  const bigGz = gzipSync(big);
  assert.ok(bigGz.length > 128 * 1024);
  assert.ok(Buffer.from(await inflateBoundedAsync(bigGz, big.length)).equals(big));
  await assert.rejects(inflateBoundedAsync(bigGz, big.length - 1), ProfileTooLargeError);
  const corrupt = Buffer.from(bigGz);
  corrupt.fill(0xff, 1000, 1100);
  await assert.rejects(inflateBoundedAsync(corrupt, big.length), BadRequestError);
});

test('refuses what inflates past the limit, a limit of 0, and what is not gzip', async () => {
  await assert.rejects(inflateBoundedAsync(gz, 4999), ProfileTooLargeError);
  await assert.rejects(inflateBoundedAsync(gz, 0), ProfileTooLargeError);
  await assert.rejects(inflateBoundedAsync(data, 10_000), BadRequestError);
  const corrupt = Buffer.from(gz);
  corrupt[corrupt.length - 12] ^= 0xff;
  await assert.rejects(inflateBoundedAsync(corrupt, 10_000), (e: unknown) => e instanceof BadRequestError && /invalid gzip data/.test(e.message));
});

test('a bomb is refused once it passes the limit, without inflating all of it', async () => {
  // 256 MiB of zeros in about 256 KB: refused at 1 MiB, long before the whole output exists.
  const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024), { level: 9 });
  const before = process.memoryUsage().arrayBuffers;
  await assert.rejects(inflateBoundedAsync(bomb, 1024 * 1024), ProfileTooLargeError);
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'the output stayed bounded');
});
