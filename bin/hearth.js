#!/usr/bin/env node
// Entry point for an installed `hearth` binary: runs the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./hearth.ts');
