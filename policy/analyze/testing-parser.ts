// For tests that call analyze() directly: load libpg-query's WebAssembly module first. The proxy and the CLI
// load it through proxy/enforce/analyzer.ts (with the V8 flags of docs/adr/0004); policy/ itself never does.
import { loadModule } from 'libpg-query';

export function initAnalyzer(): Promise<void> {
  return loadModule();
}
