/** The conformance suite (conformance.ts) for the langgraph adapter. */

import { conformance } from "./conformance.js";
import { driver } from "./conf-langgraph.js";

conformance(driver);
