/** The conformance suite (conformance.ts) for the mastra adapter's workflow steps (`approvalInStep`). */

import { conformance } from "./conformance.js";
import { driver } from "./conf-mastra-workflow.js";

conformance(driver);
