/** The conformance suite (conformance.ts) for the ai-sdk adapter. */

import { conformance } from "./conformance.js";
import { driver } from "./conf-ai-sdk.js";

conformance(driver);
