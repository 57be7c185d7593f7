#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`, which `npm ci` runs through `prepare`):
// no TypeScript loader at run time keeps a CLI call's start-up short.
try {
  await import('../dist/cli/main.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('liftgate: the CLI is not built yet; run `npm run build` (npm ci does it) and try again');
    process.exit(1);
  }
  throw err;
}
