/** Values printed in the unit of their profile type: CPU time, bytes or counts. */

export type UnitKind = 'nanoseconds' | 'bytes' | 'count';

/** The sample unit of a profile type ID `name:sample_type:sample_unit:period_type:period_unit`. */
export function unitOf(profileType: string): UnitKind {
  const unit = profileType.split(':')[2] ?? '';
  if (unit === 'nanoseconds') return 'nanoseconds';
  if (unit === 'bytes') return 'bytes';
  return 'count';
}

export function formatValue(v: number, unit: UnitKind): string {
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  if (unit === 'nanoseconds') {
    if (a < 1e3) return `${sign}${a} ns`;
    if (a < 1e6) return `${sign}${round(a / 1e3)} µs`;
    if (a < 1e9) return `${sign}${round(a / 1e6)} ms`;
    if (a < 60e9) return `${sign}${round(a / 1e9)} s`;
    if (a < 3600e9) return `${sign}${round(a / 60e9)} min`;
    return `${sign}${round(a / 3600e9)} h`;
  }
  if (unit === 'bytes') {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let x = a;
    let i = 0;
    while (x >= 1024 && i < units.length - 1) {
      x /= 1024;
      i++;
    }
    return `${sign}${i === 0 ? x : round(x)} ${units[i]}`;
  }
  if (a < 1e3) return `${sign}${a}`;
  if (a < 1e6) return `${sign}${round(a / 1e3)}k`;
  if (a < 1e9) return `${sign}${round(a / 1e6)}M`;
  return `${sign}${round(a / 1e9)}G`;
}

function round(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function percent(part: number, whole: number): string {
  if (!whole) return '0%';
  const p = (100 * part) / whole;
  return `${Math.abs(p) >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}

export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
