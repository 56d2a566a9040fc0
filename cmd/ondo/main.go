// Command ondo runs large language models on the CPU: it reads GGUF files,
// tokenizes, generates text and serves OpenAI- and Ollama-compatible APIs.
//
// Each subcommand lives in a file of its own and registers itself with
// register in an init function.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

var root = &cobra.Command{
	Use:           "ondo",
	Short:         "Run large language models on your CPU",
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// register adds a subcommand to the root command.
func register(cmds ...*cobra.Command) { root.AddCommand(cmds...) }

func main() {
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ondo:", err)
		os.Exit(1)
	}
}
