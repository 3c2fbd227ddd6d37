import type { ProfilePanel } from '../panel.ts';

/** A view renders itself into the page from the URL; it may hand back its panel and a cleanup. */
export type View = (root: HTMLElement) => { panel?: ProfilePanel; dispose?: () => void };
