/**
 * Durations written as Prometheus writes them (`15s`, `1m30s`, `500ms`, `1h`), for configs that
 * users paste from Prometheus, Parca or Alloy.
 */

const UNITS_MS: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

// Units must come largest first and at most once each, as Prometheus' parser requires.
const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];

/** Milliseconds of a Prometheus duration; throws an Error saying what is wrong. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const m = text === '' ? null : DURATION.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not a duration (expected e.g. 15s, 1m30s, 500ms)`);
  let ms = 0;
  ORDER.forEach((unit, i) => {
    if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * UNITS_MS[unit];
  });
  if (!Number.isSafeInteger(ms)) throw new Error(`duration ${JSON.stringify(text)} is too large`);
  return ms;
}

/** The shortest Prometheus spelling of a duration in milliseconds (`90000` → `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ORDER) {
    const size = UNITS_MS[unit];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
