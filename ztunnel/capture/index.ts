// Public surface of in-pod traffic capture: rule rendering, install/remove/check in a pod's
// network namespace, and finding a running pod's namespace by UID and address.
export { renderCaptureRules, renderCaptureRemoval, Chains, CHAIN_PREFIX, type CaptureRuleOptions } from './rules.ts';
export { parseWeftRuleState, hooksComplete, type WeftRuleState } from './rule-state.ts';
export { installCapture, removeCapture, captureInstalled, enableListenerMigration } from './install.ts';
export { findNetnsByAddress, findPodNetns, listNetns, HOST_ROOTS, type NetnsRoots, type PodToFind } from './find-netns.ts';
