package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/store"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a model to another name",
		Long: `Copy a model to another name, replacing any model called DST. The two
names share the model file; nothing is copied on disk.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			if err := s.Copy(args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied '%s' to '%s'\n", args[0], args[1])
			return nil
		},
	}
	addModelsDir(cmd, &dir)
	register(cmd)
}
