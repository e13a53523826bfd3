// The running config as shown through the API: secrets replaced, structure kept, so an operator
// sees which keys are set without anyone reading credentials off a status endpoint.

const SECRET_KEY = /^(key|keys|token|secret|password|passphrase|api_key|private_key|client_secret)$|_(key|token|secret|password)$/i;
export const MASK = '***';

export function maskSecrets(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x, key));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = maskSecrets(x, k);
    return out;
  }
  if (SECRET_KEY.test(key) && typeof v === 'string' && v !== '') return MASK;
  return v;
}
