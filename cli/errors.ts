// The CLI's error codes, each with what it means. Every WeftError the CLI throws carries one of
// these (a test checks the sources against this list); the message says what failed and the
// hint what to check.
export const CLI_ERRORS = {
  WEFT_ERR_KUBECONFIG: 'no usable kubeconfig: the file, the context or KUBECONFIG',
  WEFT_ERR_KUBE_API: 'the Kubernetes API refused or failed a request (HTTP status and the server\'s message)',
  WEFT_ERR_CONTROLLER: 'the controller\'s admin endpoint did not answer, or not with what was asked',
  WEFT_ERR_WAYPOINT: 'a waypoint cannot be written, found or named so',
  WEFT_ERR_NAMESPACE: 'the namespace to label is not declared in the manifest folders given',
  WEFT_ERR_INSTALL: 'a chart value given with --set cannot be read',
  WEFT_ERR_AUTHZ: 'authz check: the caller, the service or the port is not in the cluster\'s objects',
  WEFT_ERR_USAGE: 'a flag\'s value cannot be read (a duration, ...)',
  WEFT_ERR_MESH_CONFIG: 'the --mesh-config file cannot be read, or is not a YAML mapping',
} as const;

export type CliErrorCode = keyof typeof CLI_ERRORS;
