// eval.mjs: llama.cpp's next-token log-probabilities and greedy continuation, as NDJSON.
//
//   stdin line:  {"model": "/path/m.gguf", "tokens": [1, 2, 3], "greedy": 32, "threads": 1, "top": 0}
//   stdout line: {"vocab": 32000, "logprobs": [...vocab floats...], "greedy": [32 ids]}
//                (with "top": k > 0, "top": [[id, logprob], ...] highest first replaces "logprobs")
//                or {"error": "..."}
//
// Also serves {"op": "tokenize"|"detokenize"|"embed"|"rank", ...} requests (see lib.mjs), so one process
// can do everything. Usage: node eval.mjs < requests.ndjson
import { serve } from "./lib.mjs";

await serve("eval");
