/** Go/Consul duration strings: "10s", "500ms", "1m30s", "1.5h", "0". */
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** Milliseconds, or undefined when `text` is not a valid duration. */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  if (text === '0') return 0;
  let ms = 0;
  PART.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = PART.lastIndex;
  }
  return Number.isFinite(ms) ? ms : undefined;
}

/** The shortest Go-style string for a whole number of milliseconds: 1500 → "1.5s", 60000 → "1m0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)}s`;
  const m = Math.floor(ms / 60_000);
  const s = +((ms % 60_000) / 1000).toFixed(3);
  if (m < 60) return `${m}m${s}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${s}s`;
}
