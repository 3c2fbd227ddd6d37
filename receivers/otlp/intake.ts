/**
 * The transport-independent half of the receiver: decodes an export request, hands what is good
 * to the pipelines, and says what was refused (OTLP partial success). HTTP and gRPC both call it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Consumers } from '../../core/component.ts';
import { BadRequestError, HearthError } from '../../core/errors.ts';
import { RequestGate, deliverAll } from '../../core/intake.ts';
import type { Batch, SpanBatch } from '../../core/model.ts';
import {
  convertProfiles,
  decodeProfilesJson,
  decodeProfilesProto,
  decodeTracesJson,
  decodeTracesProto,
  type ProfilesWire,
} from '../../formats/otlp/index.ts';

export type Encoding = 'protobuf' | 'json';
export type OtlpSignal = 'profiles' | 'traces';

export interface ExportResult {
  rejected: number;
  message: string;
}

export interface IntakeOptions {
  wire: ProfilesWire;
  maxRequestBytes: number;
  excludeAttributes: readonly string[];
  maxLabelNames: number;
  maxLabelValueLength: number;
}

/** A signal no pipeline carries: refused, with the reason. */
export class SignalNotConfiguredError extends HearthError {
  constructor(receiverId: string, signal: OtlpSignal) {
    super(404, `receiver ${receiverId} is in no ${signal} pipeline, so it does not accept ${signal}`);
  }
}

export class OtlpIntake {
  private readonly gate: RequestGate;

  constructor(
    readonly id: string,
    private readonly next: Consumers,
    readonly opts: IntakeOptions,
    private readonly logger: Logger,
  ) {
    this.gate = new RequestGate(`receiver ${id}`);
  }

  accepts(signal: OtlpSignal): boolean {
    return this.next[signal] !== undefined;
  }

  async exportProfiles(body: Uint8Array, encoding: Encoding, tenant: string): Promise<ExportResult> {
    return this.admit(async () => {
      const consumer = this.next.profiles;
      if (!consumer) throw new SignalNotConfiguredError(this.id, 'profiles');
      const req = encoding === 'json' ? decodeProfilesJson(body, { maxBytes: this.opts.maxRequestBytes }) : decodeProfilesProto(body, { wire: this.opts.wire, maxBytes: this.opts.maxRequestBytes });
      const conv = convertProfiles(req, {
        nowNanos: BigInt(Date.now()) * 1_000_000n,
        inputBytes: body.length,
        excludeAttributes: this.opts.excludeAttributes,
        maxLabelNames: this.opts.maxLabelNames,
        maxLabelValueLength: this.opts.maxLabelValueLength,
      });
      if (conv.profiles.length === 0 && conv.rejected > 0) throw new BadRequestError(`every profile was refused: ${conv.errors.join('; ')}`);
      const digest = sha256(body);
      const batches: Batch[] = conv.profiles.map((c) => ({
        tenant,
        labels: c.labels,
        profile: c.profile,
        // The same request sent again (a client retry) names every profile the same way.
        idempotencyKey: createHash('sha256')
          .update(JSON.stringify(['otlp-profiles', tenant, digest, c.resource, c.scope, c.index, c.labels.service_name, c.labels.__name__]))
          .digest('hex'),
      }));
      await this.deliver(batches.map((b) => () => consumer.consume(b)));
      return { rejected: conv.rejected, message: conv.errors.join('; ') };
    });
  }

  async exportTraces(body: Uint8Array, encoding: Encoding, tenant: string): Promise<ExportResult> {
    return this.admit(async () => {
      const consumer = this.next.traces;
      if (!consumer) throw new SignalNotConfiguredError(this.id, 'traces');
      const conv = encoding === 'json' ? decodeTracesJson(body, { maxBytes: this.opts.maxRequestBytes }) : decodeTracesProto(body, { maxBytes: this.opts.maxRequestBytes });
      if (conv.spans.length === 0 && conv.rejected > 0) throw new BadRequestError(`every span was refused: ${conv.errors.join('; ')}`);
      if (conv.spans.length > 0) {
        const batch: SpanBatch = { tenant, spans: conv.spans, idempotencyKey: createHash('sha256').update(JSON.stringify(['otlp-traces', tenant, sha256(body)])).digest('hex') };
        await this.deliver([() => consumer.consume(batch)]);
      }
      return { rejected: conv.rejected, message: conv.errors.join('; ') };
    });
  }

  /** Stops taking requests and waits for the ones in flight. */
  close(): Promise<void> {
    return this.gate.close();
  }

  private admit<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.admit(fn);
  }

  private deliver(sends: (() => Promise<void>)[]): Promise<void> {
    return deliverAll(sends, this.logger);
  }
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
