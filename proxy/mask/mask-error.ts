// The one error proxy/mask throws. The session turns it into a FATAL 08P01 and closes the
// connection (shared/style.md §2): a row or message we could not parse is never forwarded.
export class MaskError extends Error {
  override readonly name = 'MaskError';
}
