package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/store"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:   "pull hf.co/OWNER/REPO[:QUANT]",
		Short: "Download a model from the Hugging Face Hub",
		Long: `Download a GGUF model from the Hugging Face Hub into the model store.

The name is hf.co/OWNER/REPO[:QUANT] or OWNER/REPO[:QUANT]. Without a QUANT
the repository's only GGUF is pulled, or its ` + store.DefaultQuant + ` one when it has
several; the quantization is matched without regard to case (q8_0 finds
model.Q8_0.gguf), and a split GGUF (-00001-of-0000N.gguf) is downloaded
whole and merged into one file. An interrupted pull resumes where it
stopped when run again. Every file is checked against the sha256 the Hub
publishes before the model appears in ondo list.

Environment:
  HF_TOKEN     access token for gated or private repositories
  HF_ENDPOINT  the Hub or a mirror (default ` + store.DefaultEndpoint + `)
  ONDO_MODELS  the model store (default ~/.ondo/models)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			token := os.Getenv("HF_TOKEN")
			if token == "" {
				token = os.Getenv("HUGGING_FACE_HUB_TOKEN") // older name
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			d := &pullDisplay{w: os.Stderr}
			_, err = s.Pull(ctx, args[0], store.PullOptions{
				Endpoint: os.Getenv("HF_ENDPOINT"),
				Token:    token,
				Progress: d.show,
			})
			d.end(err == nil)
			if err != nil && ctx.Err() == context.Canceled {
				return fmt.Errorf("pull %s: interrupted; run it again to resume", args[0])
			}
			return err
		},
	}
	addModelsDir(cmd, &dir)
	register(cmd)
}

// pullDisplay shows a pull's progress: a bar for each file (plain lines
// when stderr is not a terminal) and a line for each other step.
type pullDisplay struct {
	w      io.Writer
	bar    *progress
	digest string
	last   string
}

func (d *pullDisplay) show(p store.PullProgress) {
	if p.Digest != "" && p.Total > 0 {
		if p.Digest != d.digest {
			d.end(true)
			d.bar, d.digest = newByteProgress(p.Status, p.Total), p.Digest
		}
		d.bar.set(p.Completed, "")
		return
	}
	d.end(true)
	if p.Status != d.last {
		fmt.Fprintln(d.w, p.Status)
		d.last = p.Status
	}
}

// end closes the current bar, complete or not.
func (d *pullDisplay) end(ok bool) {
	if d.bar == nil {
		return
	}
	if ok {
		d.bar.finish()
	} else {
		d.bar.stop()
	}
	d.bar, d.digest = nil, ""
}
