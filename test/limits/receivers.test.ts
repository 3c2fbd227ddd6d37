/**
 * The limits hold whatever receiver brings the profile: OTLP resource and sample attributes
 * obey the same label limits and series count as pprof labels do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { ExportProfilesServiceRequestSchema } from '../../gen/opentelemetry/proto/collector/profiles/v1development/profiles_service_pb.ts';
import { richProfilesRequest } from '../receivers/otlp-support.ts';
import { querier, startLimitsHearth, type LimitsHearth } from './harness.ts';

describe('limits on the otlp receiver', () => {
  let h: LimitsHearth;
  before(async () => {
    h = await startLimitsHearth({}, { strict: { max_label_value_length: 3 }, few: { max_global_series_per_tenant: 1 } }, { otlp: true });
  });
  after(async () => h?.close());

  const post = (tenant: string) =>
    fetch(`${h.hearth.url}/v1development/profiles`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', 'X-Scope-OrgID': tenant },
      body: new Blob([toBinary(ExportProfilesServiceRequestSchema, richProfilesRequest(BigInt(Date.now()) * 1_000_000n)) as Uint8Array<ArrayBuffer>]),
    });

  test('an attribute value over max_label_value_length: 400 naming the limit, nothing stored', async () => {
    const r = await post('strict');
    const body = await r.text();
    assert.equal(r.status, 400, body);
    assert.match(body, /max_label_value_length exceeded/);
    const series = await querier(h.hearth.url, 'Series', {}, 'strict');
    assert.deepEqual(JSON.parse(series.body).labelsSet ?? [], []);
  });

  test('sample attributes that make more series than max_global_series_per_tenant: 422', async () => {
    const r = await post('few');
    const body = await r.text();
    assert.equal(r.status, 422, body);
    assert.match(body, /max_global_series_per_tenant exceeded/);
  });

  test('the same request within the defaults is stored', async () => {
    const r = await post('anonymous');
    assert.equal(r.status, 200, await r.text());
    const series = await querier(h.hearth.url, 'Series', {}, 'anonymous');
    assert.ok(JSON.parse(series.body).labelsSet.length >= 2, series.body);
  });
});
