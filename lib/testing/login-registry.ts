// Its own file: LocalTokenAuthority registers with a LocalEntraLogin, which mints through
// LocalTokenAuthority; the contract between them belongs to neither.

/** What a token is good for; `issuer` groups tokens for revocation (one per authority). */
export interface TokenGrant {
  /** The role the token logs in as. */
  user: string;
  expiresOnTimestamp: number;
  issuer: string;
}

/** Where an authority registers the tokens it issues (a LocalEntraLogin, or a proxy to one in another process). */
export interface LocalLoginRegistry {
  register(token: string, grant: TokenGrant): Promise<void>;
  revokeIssuedBy(issuer: string): Promise<void>;
}
