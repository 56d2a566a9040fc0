package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/store"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove models from the model store",
		Long: `Remove models from the model store. A model file shared by several names
(see ondo cp) is deleted with the last of them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := s.Remove(name); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted '%s'\n", name)
			}
			return nil
		},
	}
	addModelsDir(cmd, &dir)
	register(cmd)
}
