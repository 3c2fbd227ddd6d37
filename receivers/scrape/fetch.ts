/**
 * One HTTP GET of a pprof endpoint, bounded in time (the caller's signal) and in size (the
 * body is read in chunks and refused once it passes the limit, before it is all in memory).
 */

export class ScrapeError extends Error {}

const USER_AGENT = 'hearth-scrape/1';

export async function fetchProfile(url: string, signal: AbortSignal, maxBytes: number): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, {
      signal,
      redirect: 'follow',
      headers: { 'user-agent': USER_AGENT, accept: 'application/octet-stream, */*' },
    });
  } catch (err) {
    throw new ScrapeError(describeFetchError(err, signal));
  }
  if (res.status < 200 || res.status > 299) {
    // The handler's own explanation (e.g. "profile duration exceeds server's WriteTimeout") helps most.
    const text = (await res.text().catch(() => '')).slice(0, 200).trim();
    throw new ScrapeError(`server returned HTTP status ${res.status} ${res.statusText}${text ? `: ${text}` : ''}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new ScrapeError(`response of ${declared} bytes exceeds body_size_limit of ${maxBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > maxBytes) throw new ScrapeError(`response exceeds body_size_limit of ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ScrapeError) {
      await res.body?.cancel().catch(() => {});
      throw err;
    }
    throw new ScrapeError(describeFetchError(err, signal));
  }
  return Buffer.concat(chunks, size);
}

function describeFetchError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason = signal.reason as { name?: string; message?: string } | undefined;
    return reason?.name === 'TimeoutError' ? 'scrape timed out' : `scrape aborted: ${reason?.message ?? 'stopped'}`;
  }
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message ?? 'fetch failed'}: ${cause}` : e.message ?? String(err);
}
