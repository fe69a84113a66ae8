/**
 * Longest role name accepted, in UTF-8 bytes. PostgreSQL cuts names to NAMEDATALEN-1 (63) bytes
 * both in CREATE ROLE and at login, so a longer name still logs in as the role created under the
 * same (cut) name; Entra's own names stay far below this bound (a UPN is at most 113 characters,
 * a managed identity name 128). Anything longer is not a name an identity service issued.
 */
export const MAX_ROLE_NAME_BYTES = 256;

/**
 * Control and format characters (NUL, line breaks, bidi overrides, zero-width), line and paragraph
 * separators. A NUL would end the user name in pg's startup packet and let the rest of the claim
 * add startup parameters (`options=-c …`); a line break would forge log lines.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * Why `name` cannot be used as a PostgreSQL role name sent in a startup packet, or undefined when it
 * can. Says what is wrong without repeating the value (it may come from a token).
 */
export function roleNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  // In a `u` regular expression \p{Cs} matches only a lone (unpaired) surrogate.
  if (/\p{Cs}/u.test(name)) return 'it is not well-formed Unicode';
  if (UNPRINTABLE.test(name)) return 'it contains a control or invisible character (such as NUL or a line break)';
  if (name.trim() !== name) return 'it starts or ends with white space';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_ROLE_NAME_BYTES) return `it is ${bytes} bytes long (at most ${MAX_ROLE_NAME_BYTES})`;
  return undefined;
}
