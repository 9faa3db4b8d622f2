/** The conformance suite (conformance.ts) for the openai-agents adapter. */

import { conformance } from "./conformance.js";
import { driver } from "./conf-openai-agents.js";

conformance(driver);
