// Loads plain-session lazily, so the benchmarks of the peers still run before the library is
// built (or while part of its API is missing). Every plain-session variant goes through here.

let cached;

/**
 * Imports plain-session from the built package (`dist/`, via the package's own `exports`) and
 * checks that `names` are exported. Resolves to the module, or to `{ skipped: 'reason' }`.
 */
export async function loadPlain(names = []) {
  cached ??= import('plain-session').then(
    (module) => module,
    (error) => ({ skipped: `plain-session did not load (run \`npm run build\` first): ${error.message.split('\n')[0]}` }),
  );
  const module = await cached;
  if (module.skipped) return module;
  const missing = names.filter((name) => module[name] === undefined);
  if (missing.length > 0) return { skipped: `plain-session does not export ${missing.join(', ')} yet` };
  return module;
}
