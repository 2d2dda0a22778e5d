// Operator logs (style.md §6, kubebuilder good-practices): capitalised message, no period, past tense,
// object kind named, key–value fields. One JSON object per line. Never credentials or row values.
export interface Logger {
  info(msg: string, kv?: Record<string, unknown>): void;
  warn(msg: string, kv?: Record<string, unknown>): void;
  error(msg: string, kv?: Record<string, unknown>): void;
}

export function jsonLogger(out: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (level: string, msg: string, kv?: Record<string, unknown>): void => {
    out(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...kv })}\n`);
  };
  return {
    info: (m, kv) => emit('info', m, kv),
    warn: (m, kv) => emit('warn', m, kv),
    error: (m, kv) => emit('error', m, kv),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
