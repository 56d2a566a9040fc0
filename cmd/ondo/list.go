package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/store"
)

func init() {
	var dir string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the models in the model store",
		Long: `List the models in the model store: name, ID (the first 12 hex digits of
the model file's sha256), size and when the name was last written, newest
first, as ollama list does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store.Open(dir)
			if err != nil {
				return err
			}
			ms, err := s.List()
			if err != nil {
				return err
			}
			printList(cmd.OutOrStdout(), ms, time.Now())
			return nil
		},
	}
	addModelsDir(cmd, &dir)
	register(cmd)
}

// addModelsDir adds the --models-dir flag, which moves the model store.
func addModelsDir(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "models-dir", "", "the model store (default $ONDO_MODELS, else ~/.ondo/models)")
}

// printList writes the table of ondo list.
func printList(w io.Writer, ms []*store.Manifest, now time.Time) {
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].Created.Equal(ms[j].Created) {
			return ms[i].Created.After(ms[j].Created)
		}
		return ms[i].Name < ms[j].Name
	})
	tw := tabwriter.NewWriter(w, 0, 0, 4, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSIZE\tMODIFIED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.Hex()[:12], decimalBytes(m.Size), humanSince(now.Sub(m.Created)))
	}
	tw.Flush()
}

// decimalBytes formats a size as ollama does: decimal units, one decimal
// below 10.
func decimalBytes(b int64) string {
	units := []struct {
		n    float64
		name string
	}{{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "KB"}}
	for _, u := range units {
		if float64(b) >= u.n {
			v := float64(b) / u.n
			if v >= 10 || v == math.Trunc(v) {
				return fmt.Sprintf("%d %s", int64(v), u.name)
			}
			return fmt.Sprintf("%.1f %s", v, u.name)
		}
	}
	return fmt.Sprintf("%d B", b)
}

// humanSince says how long ago something happened, as ollama list does:
// "Less than a second ago", "3 minutes ago", "About an hour ago", "2 weeks
// ago".
func humanSince(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	var s string
	switch secs := int(d.Seconds()); {
	case secs < 1:
		s = "Less than a second"
	case secs == 1:
		s = "1 second"
	case secs < 60:
		s = fmt.Sprintf("%d seconds", secs)
	case int(d.Minutes()) == 1:
		s = "About a minute"
	case d < time.Hour:
		s = fmt.Sprintf("%d minutes", int(d.Minutes()))
	default:
		switch hours := int(d.Hours() + 0.5); {
		case hours == 1:
			s = "About an hour"
		case hours < 48:
			s = fmt.Sprintf("%d hours", hours)
		case hours < 24*7*2:
			s = fmt.Sprintf("%d days", hours/24)
		case hours < 24*30*2:
			s = fmt.Sprintf("%d weeks", hours/24/7)
		case hours < 24*365*2:
			s = fmt.Sprintf("%d months", hours/24/30)
		default:
			s = fmt.Sprintf("%d years", hours/24/365)
		}
	}
	return s + " ago"
}

// openModel opens the GGUF file arg names: the file at that path, or else
// the model of that name in the store in dir.
func openModel(arg, dir string) (*gguf.File, error) {
	_, statErr := os.Stat(arg)
	_, nameErr := store.ParseName(arg)
	if statErr == nil || !errors.Is(statErr, fs.ErrNotExist) || nameErr != nil || strings.HasSuffix(strings.ToLower(arg), ".gguf") {
		return gguf.Open(arg)
	}
	s, err := store.Open(dir)
	if err != nil {
		return nil, err
	}
	p, _, err := s.Resolve(arg)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s is neither a file nor a model in %s", arg, s.Dir())
	}
	if err != nil {
		return nil, err
	}
	return gguf.Open(p)
}
