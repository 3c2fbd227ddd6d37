/**
 * OTLP attribute keys → Hearth label names, as Pyroscope sanitizes them: dots become
 * underscores (`service.name` → `service_name`, `thread.name` → `thread_name`), and so does any
 * other character a label name cannot hold.
 */
export function labelNameOf(key: string): string {
  const cleaned = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(cleaned) ? `_${cleaned}` : cleaned;
}

/** Attributes that differ per process, thread or CPU: kept out of series labels unless configured otherwise. */
export const DEFAULT_EXCLUDED_ATTRIBUTES: readonly string[] = ['process.pid', 'thread.id', 'cpu.logical_number'];

export const SERVICE_NAME_KEY = 'service.name';
export const UNKNOWN_SERVICE = 'unknown_service';
