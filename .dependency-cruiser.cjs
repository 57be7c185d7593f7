// The layers of src/ and the rules that hold them: `npm run depcheck` (docs/architecture.md#layers).
//
// A layer may import itself and the layers below it (or, where `may` is given, only those); any
// other arrow between two layers fails, and so does any import cycle. Type-only imports count as
// imports for both rules: a type names the module that declares it, so a type-only cycle still ties
// two modules that cannot be read, moved or tested one without the other, and an upward
// `import type` is the first step of an upward import.
//
// Only src/ is checked: test/, bench/ and scripts/ drive the whole program and may import any of it.

/** Bottom first. The paths do not overlap, so a file belongs to exactly one layer. */
const LAYERS = [
  { name: 'domain', path: '^src/domain/', may: [], holds: 'the vocabulary, errors, clock, windows and settings' },
  { name: 'utilities', path: '^src/(auth|clients)/', may: [], holds: 'signatures, password hashing, the OBShell client' },
  { name: 'api', path: '^src/api/', may: ['domain'], holds: "the shapes of the native API's answers (TypeBox)" },
  { name: 'driver-contract', path: '^src/drivers/driver\\.ts$', may: ['domain'], holds: 'the interface every driver implements' },
  { name: 'store', path: '^src/store/', holds: 'dialects, migrations, schema, rows, repositories' },
  { name: 'engine', path: '^src/engine/', holds: 'planner, state core, executor, schedulers, housekeeping, retention' },
  { name: 'drivers', path: '^src/drivers/(?!driver\\.ts$)', holds: 'sim, postgres, redis and the registry' },
  { name: 'estimates', path: '^src/estimates/', holds: 'the duration model, its tracker, forecasts' },
  { name: 'webhooks', path: '^src/webhooks/', holds: 'the outbox, delivery, signing' },
  { name: 'service', path: '^src/service/', holds: 'validates, authorizes, records events; the context type' },
  { name: 'http', path: '^src/http/', holds: 'the native API, the API families, console, SSE, metrics' },
  // beside http, not above it: the command line is a client of the native API
  { name: 'cli', path: '^src/cli/(?!main\\.ts$)', below: 'service', holds: 'the command line, a client of the native API' },
  { name: 'app', path: '^src/app/', holds: 'the composition root: the context from its configuration, the server process' },
  { name: 'entry', path: '^src/cli/main\\.ts$', holds: 'the `liftgate` command: serves (the root) or runs a client command' },
];

const names = LAYERS.map((l) => l.name);
const pathOf = new Map(LAYERS.map((l) => [l.name, l.path]));
const either = (paths) => `(${paths.join('|')})`;

/** What a layer may import besides itself: `may`, or every layer below it (up to `below`). */
function allowedBy(layer, i) {
  if (layer.may) return layer.may;
  return names.slice(0, layer.below ? names.indexOf(layer.below) + 1 : i);
}

function layerRule(layer, i) {
  const allowed = allowedBy(layer, i);
  return {
    name: `layer-${layer.name}`,
    severity: 'error',
    comment:
      `${layer.name} (${layer.holds}) may import only ${allowed.length ? allowed.join(', ') : 'itself'}: ` +
      'this arrow goes against the layers (docs/architecture.md#layers)',
    from: { path: layer.path },
    to: { path: '^src/', pathNot: either([layer.name, ...allowed].map((n) => pathOf.get(n))) },
  };
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'an import cycle (type-only imports count): move what both sides need into a module below them',
      from: {},
      to: { circular: true },
    },
    ...LAYERS.map(layerRule),
    {
      name: 'layer-unknown',
      severity: 'error',
      comment: 'a module of src/ in no layer: give its folder a place in LAYERS (.dependency-cruiser.cjs)',
      from: { path: '^src/', pathNot: either(LAYERS.map((l) => l.path)) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|console)/' },
    // type-only imports are dependencies too (see above)
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
