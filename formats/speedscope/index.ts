export { decodeSpeedscope, SpeedscopeError, SPEEDSCOPE_SCHEMA, SPEEDSCOPE_UNITS } from './decode.ts';
export type { SpeedscopeProfile, SpeedscopeStack, SpeedscopeUnit } from './decode.ts';
