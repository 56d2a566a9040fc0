package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/synth"
)

func init() {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Developer tools: synthetic models and other test fixtures",
	}
	var preset string
	var c synth.Config
	cmd := &cobra.Command{
		Use:   "synth --out FILE [--preset NAME] [--arch ARCH] [--type TYPE] [shape flags]",
		Short: "Write a deterministic random-weight model of any shape and type",
		Long: `Synth writes a deterministic random-weight model of any shape and type.
--arch picks the architecture (llama, qwen3moe, bert, nomic-bert, …); a llama
model with --experts N is a Mixtral-style mixture of experts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			base, err := synth.Preset(preset)
			if err != nil {
				return err
			}
			// Flags given on the command line override the preset.
			fl := cmd.Flags()
			set := func(name string, dst *int, v int) {
				if fl.Changed(name) {
					*dst = v
				}
			}
			set("dim", &base.Dim, c.Dim)
			set("layers", &base.Layers, c.Layers)
			set("heads", &base.Heads, c.Heads)
			set("kv-heads", &base.KVHeads, c.KVHeads)
			set("ffn", &base.FFN, c.FFN)
			set("vocab", &base.Vocab, c.Vocab)
			set("ctx", &base.Ctx, c.Ctx)
			set("experts", &base.Experts, c.Experts)
			set("experts-used", &base.ExpertsUsed, c.ExpertsUsed)
			set("expert-ffn", &base.ExpertFFN, c.ExpertFFN)
			set("head-dim", &base.HeadDim, c.HeadDim)
			set("sliding-window", &base.SlidingWindow, c.SlidingWindow)
			if fl.Changed("arch") {
				base.Arch = c.Arch
			}
			if fl.Changed("type") {
				base.Type = c.Type
			}
			if fl.Changed("rope-base") {
				base.RopeBase = c.RopeBase
			}
			base.Seed, base.Untied, base.Pure, base.Pooling = c.Seed, c.Untied, c.Pure, c.Pooling
			start := time.Now()
			if err := synth.Write(out, base); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s in %.1fs\n", out, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.String("out", "", "output GGUF file")
	f.StringVar(&preset, "preset", "tiny", "base shape: tiny or llama-3.2-1b")
	f.StringVar(&c.Arch, "arch", "llama", "architecture")
	f.StringVar(&c.Type, "type", "F32", "tensor type or quantization preset (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, IQ2_XXS, …); presets that need an importance matrix (IQ1_*, IQ2_*, IQ3_XXS, IQ3_XS, Q2_K_S) use a flat one, all weights 1")
	f.BoolVar(&c.Pure, "pure", false, "every weight matrix in the type's base type, without mix rules")
	f.IntVar(&c.Dim, "dim", 0, "embedding size")
	f.IntVar(&c.Layers, "layers", 0, "number of blocks")
	f.IntVar(&c.Heads, "heads", 0, "attention heads")
	f.IntVar(&c.KVHeads, "kv-heads", 0, "key/value heads (GQA when fewer than heads)")
	f.IntVar(&c.FFN, "ffn", 0, "feed-forward size")
	f.IntVar(&c.Vocab, "vocab", 0, "vocabulary size (at least 260)")
	f.IntVar(&c.Ctx, "ctx", 0, "context length")
	f.Float32Var(&c.RopeBase, "rope-base", 0, "RoPE frequency base")
	f.IntVar(&c.Experts, "experts", 0, "mixture of experts: experts per layer (llama: Mixtral layout; qwen3moe: default 8)")
	f.IntVar(&c.ExpertsUsed, "experts-used", 0, "experts chosen per token (default 2)")
	f.IntVar(&c.ExpertFFN, "expert-ffn", 0, "feed-forward size of one expert (qwen3moe; default --ffn)")
	f.IntVar(&c.HeadDim, "head-dim", 0, "attention head size when not dim/heads (qwen3, qwen3moe)")
	f.IntVar(&c.SlidingWindow, "sliding-window", 0, "attention window of the local layers (gemma2, gemma3, exaone4, olmo2)")
	f.StringVar(&c.Pooling, "pooling", "", "pooling_type to write: mean, cls, last, or rank (a reranker: bert, qwen3)")
	f.Uint64Var(&c.Seed, "seed", 0, "random seed")
	f.BoolVar(&c.Untied, "untied", false, "separate output matrix instead of tied embeddings")
	dev.AddCommand(cmd)
	register(dev)
}
