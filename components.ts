/**
 * The built-in components. A new component is one folder plus one line here.
 */
import { Registry } from './core/registry.ts';
import pyroscopeReceiver from './receivers/pyroscope/index.ts';
import relabelProcessor from './processors/relabel/index.ts';
import spanlinkProcessor from './processors/spanlink/index.ts';
import downsampleProcessor from './processors/downsample/index.ts';
import batchProcessor from './processors/batch/index.ts';
import memoryLimiterProcessor from './processors/memory_limiter/index.ts';
import clickhouseExporter from './exporters/clickhouse/index.ts';
import debugExporter from './exporters/debug/index.ts';
import apiExtension from './api/index.ts';
import natsReceiver from './receivers/nats/index.ts';
import natsExporter from './exporters/nats/index.ts';
import otlpReceiver from './receivers/otlp/index.ts';
import scrapeReceiver from './receivers/scrape/index.ts';
import ebpfReceiver from './receivers/ebpf/index.ts';
import basicAuthExtension from './extensions/basicauth/index.ts';
import bearerTokenAuthExtension from './extensions/bearertokenauth/index.ts';

export function builtinComponents(): Registry {
  return new Registry([pyroscopeReceiver, relabelProcessor, spanlinkProcessor, downsampleProcessor, batchProcessor, memoryLimiterProcessor, clickhouseExporter, debugExporter, apiExtension, natsReceiver, natsExporter, scrapeReceiver, ebpfReceiver, otlpReceiver, basicAuthExtension, bearerTokenAuthExtension]);
}
