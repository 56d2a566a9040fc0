// Package all registers every architecture ondo implements. Programs that
// load arbitrary models import it for its side effects:
//
//	import _ "github.com/ondo-ai/ondo/model/all"
package all

import (
	_ "github.com/ondo-ai/ondo/model/bert"     // bert, nomic-bert: embedding encoders
	_ "github.com/ondo-ai/ondo/model/gemma2"   // gemma2: Gemma 2
	_ "github.com/ondo-ai/ondo/model/gemma3"   // gemma3: Gemma 3 (text)
	_ "github.com/ondo-ai/ondo/model/llama"    // llama, mistral-class files
	_ "github.com/ondo-ai/ondo/model/phi3"     // phi3: Phi-3, Phi-3.5 and Phi-4 (mini)
	_ "github.com/ondo-ai/ondo/model/qwen2"    // qwen2: Qwen1.5, Qwen2, Qwen2.5
	_ "github.com/ondo-ai/ondo/model/qwen3"    // qwen3: dense Qwen3
	_ "github.com/ondo-ai/ondo/model/qwen3moe" // qwen3moe: Qwen3 mixture of experts
)
