// Which events a webhook receives: exact types ("upgrade.succeeded"), a family with a trailing
// wildcard ("upgrade.*", "batch.*") or everything ("*").
export const EVENT_PATTERN = '^(\\*|[a-z][a-z_]*(\\.[a-z][a-z_]*)*(\\.\\*)?)$';
const PATTERN = new RegExp(EVENT_PATTERN);

export const isEventPattern = (p: string): boolean => PATTERN.test(p);

export function matches(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

/**
 * The hosts webhooks may call: empty allows any http(s) URL (loopback included); otherwise a
 * host must equal an entry or, for an entry "*.example.com", end with ".example.com".
 */
export function hostAllowed(allowed: readonly string[], host: string): boolean {
  if (allowed.length === 0) return true;
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return allowed.some((a) => {
    const e = a.trim().toLowerCase();
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) : h === e;
  });
}
