// Preload (`node --import`) for sidecar-modules.test.ts: appends the URL of every module the process loads —
// ES modules, CommonJS files required by packages, built-ins — to the file AIRLOCK_MODULES_OUT names, one a
// line, as it is loaded (a synchronous hook, so a process killed later has written all it loaded).
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.AIRLOCK_MODULES_OUT;
if (out === undefined || out === '') throw new Error('record-modules.ts: set AIRLOCK_MODULES_OUT');
registerHooks({
  load(url, context, next) {
    appendFileSync(out, `${url}\n`);
    return next(url, context);
  },
});
