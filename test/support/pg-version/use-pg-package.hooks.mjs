let pgPackage = 'pg';

export function initialize(data) {
  pgPackage = data?.pgPackage ?? 'pg';
}

export async function resolve(specifier, context, nextResolve) {
  if (pgPackage !== 'pg' && (specifier === 'pg' || specifier.startsWith('pg/'))) {
    return nextResolve(pgPackage + specifier.slice(2), context);
  }
  return nextResolve(specifier, context);
}
