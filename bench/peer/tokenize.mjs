// tokenize.mjs: llama.cpp's tokenizer, as NDJSON (no BOS/EOS added).
//
//   stdin line:  {"model": "/path/ggml-vocab-x.gguf", "text": "Hello world", "special": false}
//   stdout line: {"ids": [15496, 995]}
//   stdin line:  {"op": "detokenize", "model": "...", "ids": [15496, 995], "special": false}
//   stdout line: {"text": "Hello world"}
//
// Vocab-only GGUFs load with vocabOnly (no tensors needed). Usage: node tokenize.mjs < reqs.ndjson
import { serve } from "./lib.mjs";

await serve("tokenize");
