/**
 * The binary batch encoding that travels on NATS, shared by the encoder and the decoder.
 *
 *   magic    4 bytes  "HBAT"
 *   version  1 byte   1
 *   flags    1 byte   bit 0: body is raw-deflate compressed; other bits must be 0
 *   header            tenant, idempotency key, series labels (never compressed, so a consumer
 *                     can route or dead-letter a message without inflating it)
 *   body              the profile; when compressed: varint uncompressed length, then deflate
 *
 * Integers are unsigned LEB128 varints; signed ones are zigzagged first. A string is a varint
 * byte length and UTF-8. Every count is checked against the bytes left before anything is
 * allocated for it, so a hostile count cannot make the decoder allocate more than the input.
 *
 * Body, in order:
 *   sample types       count, then (type, unit) strings
 *   period type        (type, unit) strings
 *   period             float64 little-endian
 *   time, duration     zigzag varint64 nanoseconds
 *   names              count, strings (index 0 is "")
 *   stacks             count, each: depth, then name indices (leaf first, each ≥ 1)
 *   label sets         count, each: pair count, then (name, value) strings (set 0 is empty)
 *   value encoding     1 byte: 0 zigzag varints, 1 float64 (when a value is not an integer
 *                      within ±2^52)
 *   samples            count, each: stack, label set, id flags (1 byte: bit 0 span ID,
 *                      bit 1 trace ID, bit 2 IDs written as strings instead of raw bytes),
 *                      the IDs, then one value per sample type
 */
export const MAGIC = [0x48, 0x42, 0x41, 0x54] as const; // "HBAT"
export const VERSION = 1;
export const HEADER_FIXED_BYTES = MAGIC.length + 2;

export const FLAG_DEFLATE = 1;
export const KNOWN_FLAGS = FLAG_DEFLATE;

export const VALUES_VARINT = 0;
export const VALUES_FLOAT64 = 1;

export const ID_SPAN = 1;
export const ID_TRACE = 2;
export const ID_AS_STRING = 4;
export const KNOWN_ID_FLAGS = ID_SPAN | ID_TRACE | ID_AS_STRING;

/** Largest magnitude written as a zigzag varint; its zigzag form is still an exact double. */
export const MAX_VARINT_VALUE = 2 ** 52;

/** Default limit on an inflated body. Well above any profile Hearth accepts (4 MiB of pprof by default). */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
