/**
 * HearthError → ConnectError, so Connect services answer with the same meaning (and the same
 * HTTP status where Connect has one) as the plain HTTP routes.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { HearthError } from './errors.ts';

/** The Connect code for an HTTP status carried by a HearthError. */
export function connectCodeForStatus(status: number): Code {
  switch (status) {
    case 400:
    // Connect has no "too large" or "unsupported media type" code. Both mean the request can't
    // succeed as sent, and a retryable code would make clients resend it forever.
    case 413:
    case 415:
    case 422:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 408:
    case 504:
      return Code.DeadlineExceeded;
    case 409:
      return Code.AlreadyExists;
    case 429:
      return Code.ResourceExhausted;
    case 501:
      return Code.Unimplemented;
    case 503:
      return Code.Unavailable;
    default:
      return status >= 400 && status < 500 ? Code.InvalidArgument : Code.Internal;
  }
}

/**
 * Converts anything thrown by a handler. ConnectErrors pass through; a HearthError keeps its message
 * and its Retry-After (sent as a response header); anything else is a bug and becomes Internal
 * without leaking its message.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof HearthError) {
    const metadata = new Headers();
    if (err.retryAfter !== undefined) metadata.set('Retry-After', String(err.retryAfter));
    return new ConnectError(err.message, connectCodeForStatus(err.status), metadata, undefined, err);
  }
  return new ConnectError('internal error', Code.Internal, undefined, undefined, err);
}
