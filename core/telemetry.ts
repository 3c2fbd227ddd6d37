/**
 * Self-tracing: a tracer provider that sends spans of Hearth's own requests, inserts and queries
 * as OTLP over HTTP (protobuf, serialized by the OpenTelemetry project's own otlp-transformer) to
 * `service.telemetry.traces.endpoint`, which may be Hearth itself.
 */
import { context, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import type { Logger } from 'pino';
import type { TracesTelemetryConfig } from './telemetry-config.ts';
import { setRequestTracing } from './tracing.ts';

export interface SelfTracing {
  /** Exports what is buffered, then stops; later spans are dropped. */
  shutdown(): Promise<void>;
}

/** Registers the process-wide tracer provider; undefined when self-tracing is off. */
export function startSelfTracing(config: TracesTelemetryConfig | undefined, logger: Logger): SelfTracing | undefined {
  if (!config) return undefined;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplerRatio) }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: config.endpoint, headers: config.headers }), {
        scheduledDelayMillis: config.batchDelayMs,
      }),
    ],
  });
  provider.register();
  // Failed exports are otherwise silent; a wrong endpoint should show in Hearth's own log.
  const log = logger.child({ component: 'self-tracing' });
  const report = (msg: string, ...args: unknown[]) => log.warn({ detail: [msg, ...args.map(String)].join(' ').slice(0, 2000) }, 'self-tracing: the OpenTelemetry SDK reports a problem');
  diag.setLogger(
    {
      error: report,
      warn: report,
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  setRequestTracing(true, new URL(config.endpoint).pathname);
  logger.info({ endpoint: config.endpoint, samplerRatio: config.samplerRatio }, 'self-tracing on');
  return {
    async shutdown() {
      setRequestTracing(false);
      try {
        await provider.shutdown();
      } finally {
        // Unregistering lets a later service in the same process (tests) register its own provider.
        trace.disable();
        context.disable();
        propagation.disable();
        diag.disable();
      }
    },
  };
}
