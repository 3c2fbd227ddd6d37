/**
 * A request sent the way real clients send it: a 429 or 503 (a server still starting, a full
 * queue, a store catching up) is retried after its Retry-After, until a deadline.
 */
export async function fetchRetrying(url: string, init: RequestInit, deadlineMs = 120_000): Promise<Response> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const r = await fetch(url, init);
    if ((r.status !== 429 && r.status !== 503) || Date.now() >= deadline) return r;
    await r.arrayBuffer();
    const after = Number(r.headers.get('retry-after') ?? '1');
    const waitMs = Math.min(5_000, Math.max(100, (Number.isFinite(after) ? after : 1) * 1000 * (0.5 + Math.random())));
    await new Promise((res) => setTimeout(res, waitMs));
  }
}
