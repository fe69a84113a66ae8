/**
 * Loads an optional peer dependency, or fails with `missing(cause)`: an error that names the package
 * and says how to install it. `load` is the caller's own `() => import('package')`, so the specifier
 * resolves from the caller's file in both builds (`import()` in ESM, `require()` in CommonJS), which
 * is where an app's install put it, nested or hoisted.
 */
export async function loadOptionalPeer<T>(load: () => Promise<T>, missing: (cause: unknown) => Error): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    throw missing(cause);
  }
}
