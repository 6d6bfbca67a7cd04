// The one call a certificate manager makes to obtain a certificate: send a CSR for an identity,
// get the signed chain and the roots back. HTTPS to the controller in production, the CA
// object directly in tests and in the embedded cluster.

export interface FetchedCertificate {
  certPem: string;
  /** Intermediates, the leaf's issuer first, root excluded. */
  chainPem: string[];
  rootsPem: string[];
}

export type CertificateFetcher = (csrPem: string, identity: string) => Promise<FetchedCertificate>;
