package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/store"
)

func init() {
	var dir, from string
	cmd := &cobra.Command{
		Use:   "create NAME --from FILE.gguf",
		Short: "Import a local GGUF file into the model store",
		Long: `Import a local GGUF file into the model store as NAME (NAME or NAME:TAG),
replacing any model of that name. The file must parse as GGUF. It is
hard-linked into the store when it is on the same file system, which costs
no space (the store then shares the file: do not modify it in place), and
copied otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" {
				return fmt.Errorf("create %s: --from FILE.gguf is required", args[0])
			}
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			m, err := s.Create(args[0], from)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created '%s' (%s, %s)\n", m.Name, m.Hex()[:12], decimalBytes(m.Size))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the GGUF file to import")
	addModelsDir(cmd, &dir)
	register(cmd)
}
