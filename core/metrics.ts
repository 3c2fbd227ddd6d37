/**
 * Metric helpers. Several instances of one component type share the process registry, so a
 * metric is created once and then reused by name.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';


function shared<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return shared(registry, name, () => new Counter({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return shared(registry, name, () => new Gauge({ name, help, labelNames, registers: [registry] }));
}

export function histogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
  return shared(registry, name, () => new Histogram({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }));
}

