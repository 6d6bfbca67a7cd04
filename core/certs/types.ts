// The certificate material a proxy holds for one identity, and the contract between the
// certificate manager (which fetches and renews it) and HBONE (which presents it).

export interface WorkloadCertificate {
  /** SPIFFE id carried as the certificate's URI SAN. */
  identity: string;
  keyPem: string;
  /** The leaf certificate. */
  certPem: string;
  /** Intermediates, leaf's issuer first, root excluded. */
  chainPem: string[];
  /** Trust anchors for verifying peers. */
  rootsPem: string[];
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateProvider {
  /** Resolves once a valid certificate for `identity` is held; waits (bounded) for a first fetch. */
  get(identity: string): Promise<WorkloadCertificate>;
}
