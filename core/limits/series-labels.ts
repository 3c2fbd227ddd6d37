/**
 * The label limits every series obeys, whichever receiver built it: the number of label names,
 * and the length of each name and value.
 */
import type { Labels } from '../model.ts';
import { LimitExceededError } from './errors.ts';
import type { TenantLimits } from './schema.ts';

export type LabelLimits = Pick<TenantLimits, 'maxLabelNamesPerSeries' | 'maxLabelNameLength' | 'maxLabelValueLength'>;

/** Checks one complete series label set (series labels and a sample's labels merged). */
export function checkLabelLimits(labels: Labels, limits: LabelLimits): void {
  // Counting first, and stopping at the limit, turns a label set of 100,000 names away before
  // anything else about it is looked at.
  if (limits.maxLabelNamesPerSeries) {
    let count = 0;
    for (const _ in labels) {
      if (++count > limits.maxLabelNamesPerSeries) {
        throw new LimitExceededError(400, 'max_label_names_per_series', `series ${formatLabels(labels)} has more than ${limits.maxLabelNamesPerSeries} label names`);
      }
    }
  }
  for (const name in labels) {
    if (limits.maxLabelNameLength && name.length > limits.maxLabelNameLength) {
      throw new LimitExceededError(400, 'max_label_name_length', `label name ${JSON.stringify(name.slice(0, 64))}… is ${name.length} characters long; the limit is ${limits.maxLabelNameLength}`);
    }
    const value = labels[name];
    if (limits.maxLabelValueLength && value.length > limits.maxLabelValueLength) {
      throw new LimitExceededError(400, 'max_label_value_length', `label ${JSON.stringify(name.slice(0, 64))} has a value of ${value.length} characters; the limit is ${limits.maxLabelValueLength}`);
    }
  }
}

/** A label set for a message: sorted, quoted, cut at 300 characters. */
export function formatLabels(labels: Labels): string {
  const parts: string[] = [];
  let length = 0;
  for (const k of Object.keys(labels).sort()) {
    const part = `${k.slice(0, 100)}=${JSON.stringify(labels[k].slice(0, 100))}`;
    parts.push(part);
    length += part.length + 2;
    if (length > 300) break;
  }
  const s = `{${parts.join(', ')}}`;
  return s.length > 300 ? `${s.slice(0, 300)}…}` : s;
}
