// embed.mjs: llama.cpp's embedding context, as NDJSON.
//
//   stdin line:  {"model": "/path/m.gguf", "text": "Hello world", "threads": 1}
//                (or "tokens": [ids] instead of "text")
//   stdout line: {"embedding": [floats]}
//
// The model's own pooling type applies (none: the last token's hidden state). Usage:
// node embed.mjs < requests.ndjson
import { serve } from "./lib.mjs";

await serve("embed");
