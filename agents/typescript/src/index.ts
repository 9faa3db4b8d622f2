/**
 * agent-approvals: keep a human in control of any AI agent, from Slack. The client of the Agent Approvals bot's API
 * (`ApprovalsClient`), where paused runs wait (`FileStateStore`), and receipts an executor verifies
 * (`verifyReceipt`, `ReceiptChecker`, `requiresReceipt`): the same words, errors and receipt rules as the Python
 * package `agent_approvals`.
 */

export type { components, operations, paths } from "./api.js";
export {
  ApprovalsClient,
  LONG_POLL,
  MAX_EDITS,
  againKey,
  approvalOf,
  idempotencyKey,
  type AllowedCall,
  type AllowedOptions,
  type AllowedRequest,
  type Approval,
  type AskOptions,
  type CamelCased,
  type ClientOptions,
  type KeyInfo,
  type MessageAskOptions,
  type MessageRequest,
  type ToolCall,
  type ToolDecisionRequest,
  type ToolRequest,
  type ToolAskOptions,
  type ToolDecisionOptions,
  type Use,
  type UseOptions,
  type WaitOptions,
} from "./client.js";
export { ApprovalsError, BadKey, InvalidRequest, LimitReached, NotFound, OutOfScope, Unreachable } from "./errors.js";
export {
  ArtifactError,
  MAX_ARTIFACTS,
  artifactSha256,
  declaredFor,
  diskMismatch,
  fileChange,
  normalisedArtifact,
  normalisedArtifacts,
  textSha256,
  type Artifact,
  type ArtifactInput,
  type CommandArtifact,
  type DeclaredArtifacts,
  type FileChange,
  type MessageArtifact,
  type QueryArtifact,
} from "./artifacts.js";
export { canonicalJson } from "./json.js";
export {
  ALG,
  ReceiptError,
  TYPE,
  argsSha256,
  verifyReceipt,
  type Jwks,
  type ReceiptClaims,
  type ReceiptKeys,
  type ReceiptReason,
  type VerifyOptions,
} from "./receipts.js";
export {
  ReceiptChecker,
  requiresReceipt,
  type CheckedCall,
  type CheckerOptions,
  type ReceiptRequired,
} from "./checker.js";
export { FileStateStore, type StateStore } from "./state.js";
export { refusal, who } from "./words.js";
export { API_PATH, FIRST_TRIES, baseUrl } from "./wire.js";
