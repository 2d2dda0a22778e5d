// Preload (`node --import`) for sidecar-at-rest.test.ts, one of two ways:
// - AIRLOCK_MODULES_OUT: appends the URL of every module the process loads — ES modules, CommonJS files required
//   by packages, built-ins — to that file, one a line, as it is loaded (a synchronous hook, so a process killed
//   later has written all it loaded);
// - AIRLOCK_BUILTINS_OUT: on SIGUSR2, writes Node's own list of what it has loaded (process.moduleLoadList, its
//   internal modules too, which no hook sees) to that file, ending with a line "done". No hook then: a load hook
//   changes how built-ins load (a require()d built-in gets an ES namespace, which runs its lazy getters).
import { appendFileSync, writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const modulesOut = process.env.AIRLOCK_MODULES_OUT ?? '';
const builtinsOut = process.env.AIRLOCK_BUILTINS_OUT ?? '';
if ((modulesOut === '') === (builtinsOut === ''))
  throw new Error('record-modules.ts: set one of AIRLOCK_MODULES_OUT and AIRLOCK_BUILTINS_OUT');
if (modulesOut !== '')
  registerHooks({
    load(url, context, next) {
      appendFileSync(modulesOut, `${url}\n`);
      return next(url, context);
    },
  });
else
  process.on('SIGUSR2', () => {
    // moduleLoadList is not in @types/node; it is an array of "NativeModule name" / "Internal Binding name".
    const list = (process as unknown as { moduleLoadList: readonly string[] }).moduleLoadList;
    writeFileSync(builtinsOut, `${list.join('\n')}\ndone\n`);
  });
