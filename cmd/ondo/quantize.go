package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/quantize/imatrix"
	"github.com/ondo-ai/ondo/tensor"
)

func init() {
	var threads int
	var requant, pure bool
	var imatrixFile string
	cmd := &cobra.Command{
		Use:   "quantize IN.gguf OUT.gguf TYPE",
		Short: "Convert a model to another quantization (Q8_0, Q4_K_M, IQ2_XXS, …)",
		Long: `Convert a GGUF model to another tensor type. TYPE is one of
F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q2_K_S, Q3_K_S, Q3_K_M,
Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS,
IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0,
MXFP4_MOE. Each preset chooses per-tensor types with llama.cpp's rules, and
the file holds the bytes llama.cpp's quantizer writes; norms and other 1-D
tensors stay F32. The output is written atomically and never over the input.

--imatrix FILE weights the quantization by an importance matrix computed by
llama-imatrix (its GGUF form or the legacy .dat form). As in llama.cpp, the
presets that make IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S or IQ3_XXS tensors
(IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS) and Q2_K_S
are refused without one.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ft, err := quantize.ParseFileType(args[2])
			if err != nil {
				return err
			}
			start := time.Now()
			var bar *progress
			var m *imatrix.Matrix
			if imatrixFile != "" {
				if m, err = imatrix.Load(imatrixFile); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "importance matrix %s: %d entries\n", imatrixFile, len(m.Entries))
			}
			opt := quantize.Options{Threads: threads, AllowRequantize: requant, Pure: pure, Imatrix: m,
				Warn: func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "warning:", msg) },
				Progress: func(done, total int, name string, from, to tensor.Type) {
					if bar == nil {
						bar = newProgress("quantizing", int64(total))
					}
					bar.set(int64(done), fmt.Sprintf("%s %s→%s", name, from, to))
				}}
			if err := quantize.File(args[0], args[1], ft, opt); err != nil {
				return err
			}
			if bar != nil {
				bar.finish()
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s) in %.1fs\n", args[1], ft, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().IntVar(&threads, "threads", 0, "threads (default: all CPUs)")
	cmd.Flags().BoolVar(&requant, "allow-requantize", false, "allow converting tensors that are already quantized (loses quality)")
	cmd.Flags().BoolVar(&pure, "pure", false, "give every weight matrix the base type, without the preset's mix rules")
	cmd.Flags().StringVar(&imatrixFile, "imatrix", "", "importance matrix from llama-imatrix (GGUF or legacy .dat) to weight the quantization by")
	register(cmd)
}
