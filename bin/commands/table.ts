/**
 * Plain-text tables and value formatting for the CLI's answers.
 */

/** Columns are right-aligned except the last, which is left as is (function names). */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A value in the profile's unit, as pprof prints it: 1.20s, 350ms, 12.5MB, 1234. */
export function formatValue(v: number, unit: string): string {
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  const scaled = (steps: Array<[number, string]>) => {
    for (const [size, suffix] of steps) if (a >= size) return `${sign}${trim(a / size)}${suffix}`;
    return `${sign}${trim(a)}`;
  };
  switch (unit) {
    case 'nanoseconds':
      return a === 0 ? '0' : scaled([[3600e9, 'h'], [60e9, 'min'], [1e9, 's'], [1e6, 'ms'], [1e3, 'us'], [1, 'ns']]);
    case 'microseconds':
      return formatValue(v * 1e3, 'nanoseconds');
    case 'milliseconds':
      return formatValue(v * 1e6, 'nanoseconds');
    case 'bytes':
      return a === 0 ? '0' : scaled([[2 ** 40, 'TB'], [2 ** 30, 'GB'], [2 ** 20, 'MB'], [2 ** 10, 'kB'], [1, 'B']]);
    default:
      return `${sign}${Number.isInteger(a) ? a : trim(a)}`;
  }
}

function trim(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1).replace(/\.0$/, '') : n.toFixed(2).replace(/\.?0+$/, '');
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '0.00%' : `${((part / whole) * 100).toFixed(2)}%`;
}

/** The sample unit of a profile type ID `name:type:unit:period_type:period_unit`. */
export function unitOf(profileType: string): string {
  return profileType.split(':')[2] ?? '';
}
