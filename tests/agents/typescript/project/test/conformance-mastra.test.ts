/** The conformance suite (conformance.ts) for the mastra adapter. */

import { conformance } from "./conformance.js";
import { driver } from "./conf-mastra.js";

conformance(driver);
