// proxy/mask: pure functions over PostgreSQL wire bytes that mask column values before rows leave
// the proxy. No I/O, no clock; node:crypto only for the keyed `hash` strategy. See README.md.
export { MaskError } from './mask-error.ts';
export { maskValue, valueKind, fieldKind, partialText, MIN_HASH_KEY_BYTES } from './strategies.ts';
export type { ValueKind } from './strategies.ts';
export { maskDataRow } from './datarow.ts';
export { resolveRowMask, stricter, strictestInPlan } from './resolve.ts';
export { maskCopyData, copyBinaryMaskUnsupported } from './copy.ts';
export type { CopyOptions } from './copy.ts';
export { scrubErrorFields } from './errors.ts';
export type { RowMask, MaskSettings, MaskCatalog } from './types.ts';
export type { FieldInfo } from '../wire/read.ts';
