// Package all registers every architecture ondo implements. Programs that
// load arbitrary models import it for its side effects:
//
//	import _ "github.com/ondo-ai/ondo/model/all"
package all

import (
	_ "github.com/ondo-ai/ondo/model/bert"       // bert, nomic-bert: embedding encoders
	_ "github.com/ondo-ai/ondo/model/deepseek2"  // deepseek2: DeepSeek-V2/V3, Kanana-2 (latent attention)
	_ "github.com/ondo-ai/ondo/model/exaone"     // exaone: LG EXAONE 3.0, 3.5, Deep
	_ "github.com/ondo-ai/ondo/model/exaone4"    // exaone4: LG EXAONE 4.0
	_ "github.com/ondo-ai/ondo/model/gemma2"     // gemma2: Gemma 2
	_ "github.com/ondo-ai/ondo/model/gemma3"     // gemma3: Gemma 3 (text), EmbeddingGemma
	_ "github.com/ondo-ai/ondo/model/gemma3n"    // gemma3n: Gemma 3n (text)
	_ "github.com/ondo-ai/ondo/model/gemma4"     // gemma4: Gemma 4 (text)
	_ "github.com/ondo-ai/ondo/model/glm4"       // glm4: GLM-4 9B/32B dense
	_ "github.com/ondo-ai/ondo/model/gptoss"     // gpt-oss: OpenAI gpt-oss 20B, 120B
	_ "github.com/ondo-ai/ondo/model/granite"    // granite, granitemoe: IBM Granite 3.x
	_ "github.com/ondo-ai/ondo/model/llama"      // llama, mistral-class files
	_ "github.com/ondo-ai/ondo/model/mistral3"   // mistral3: Ministral 3, Mistral Small 3.x
	_ "github.com/ondo-ai/ondo/model/modernbert" // modern-bert: ModernBERT encoders
	_ "github.com/ondo-ai/ondo/model/olmo2"      // olmo2: OLMo 2 and 3
	_ "github.com/ondo-ai/ondo/model/phi3"       // phi3: Phi-3, Phi-3.5 and Phi-4 (mini)
	_ "github.com/ondo-ai/ondo/model/qwen2"      // qwen2: Qwen1.5, Qwen2, Qwen2.5
	_ "github.com/ondo-ai/ondo/model/qwen3"      // qwen3: dense Qwen3
	_ "github.com/ondo-ai/ondo/model/qwen35"     // qwen35: Qwen3.5 dense (Gated DeltaNet hybrid)
	_ "github.com/ondo-ai/ondo/model/qwen3moe"   // qwen3moe: Qwen3 mixture of experts
	_ "github.com/ondo-ai/ondo/model/smollm3"    // smollm3: SmolLM3
)
