package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/server"
)

func init() {
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the models a running server has loaded",
		Long: `List the models loaded by the ondo server at ONDO_HOST (default ` + server.DefaultAddr + `),
as ollama ps does: name, ID (the first 12 hex digits of the model's digest),
memory size, processor (always the CPU), context and when it will be unloaded.
ONDO_API_KEY is sent when the server requires a key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFromEnv()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var ps psResponse
			if err := c.getJSON(ctx, "/api/ps", &ps); err != nil {
				return err
			}
			printPs(cmd.OutOrStdout(), ps.Models, time.Now())
			return nil
		},
	}
	register(cmd)
}

// psResponse is the answer of GET /api/ps.
type psResponse struct {
	Models []psModel `json:"models"`
}

type psModel struct {
	Name          string    `json:"name"`
	Model         string    `json:"model"`
	Size          int64     `json:"size"`
	Digest        string    `json:"digest"`
	ExpiresAt     time.Time `json:"expires_at"`
	SizeVRAM      int64     `json:"size_vram"`
	ContextLength int       `json:"context_length"`
}

// printPs writes the table of ondo ps.
func printPs(w io.Writer, ms []psModel, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 4, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSIZE\tPROCESSOR\tCONTEXT\tUNTIL")
	for _, m := range ms {
		id := m.Digest
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", m.Name, id, decimalBytes(m.Size), processor(m), m.ContextLength, until(m.ExpiresAt, now))
	}
	tw.Flush()
}

// processor says where a model runs, as ollama ps does.
func processor(m psModel) string {
	switch {
	case m.SizeVRAM == 0:
		return "100% CPU"
	case m.SizeVRAM == m.Size:
		return "100% GPU"
	case m.SizeVRAM > m.Size || m.Size == 0:
		return "Unknown"
	}
	cpu := (m.Size - m.SizeVRAM) * 100 / m.Size
	return fmt.Sprintf("%d%%/%d%% CPU/GPU", cpu, 100-cpu)
}

// until says when a model will be unloaded, as ollama ps does: "4 minutes
// from now", "Forever" (a negative keep-alive), "Stopping..." once past.
func until(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "Never"
	case !t.After(now):
		return "Stopping..."
	case t.Sub(now) > 20*365*24*time.Hour:
		return "Forever"
	}
	return strings.TrimSuffix(humanSince(t.Sub(now)), " ago") + " from now"
}

// apiClient talks to a running ondo server.
type apiClient struct {
	base *url.URL
	hc   *http.Client
	key  string
}

// clientFromEnv returns a client of the server at ONDO_HOST (or
// ONDO_ADDR; default 127.0.0.1:11435), sending ONDO_API_KEY if set.
func clientFromEnv() (*apiClient, error) {
	host := os.Getenv("ONDO_HOST")
	if host == "" {
		host = os.Getenv("ONDO_ADDR")
	}
	u, err := serverURL(host)
	if err != nil {
		return nil, fmt.Errorf("ONDO_HOST: %w", err)
	}
	return &apiClient{base: u, hc: &http.Client{}, key: os.Getenv("ONDO_API_KEY")}, nil
}

// serverURL turns an address as ondo serve takes it (HOST:PORT, HOST,
// :PORT or a URL) into the URL a client connects to, as ollama reads
// OLLAMA_HOST: port 11435 by default, but 80 or 443 for a URL with a
// scheme; a server listening on every interface is reached on the
// loopback one.
func serverURL(addr string) (*url.URL, error) {
	addr = strings.TrimSpace(addr)
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		scheme, rest = "http", addr
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("address %q: the scheme must be http or https", addr)
	}
	rest, _, _ = strings.Cut(rest, "/")
	if ok {
		if _, _, err := net.SplitHostPort(rest); err != nil {
			port := "80"
			if scheme == "https" {
				port = "443"
			}
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), port)
		}
	}
	hostport, err := normalizeAddr(rest)
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(hostport)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, nil
}

// apiStatusError is an error answer of the server.
type apiStatusError struct {
	Status int
	Msg    string
}

func (e *apiStatusError) Error() string { return e.Msg }

// connectError explains that no server answers.
func (c *apiClient) connectError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("could not connect to an ondo server at %s: is ondo serve running? (set ONDO_HOST to reach another one): %v", c.base, err)
}

// request sends a request with body (nil, or a value sent as JSON) and
// returns the response when its status is 2xx, else the server's error.
func (c *apiClient) request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.connectError(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error json.RawMessage `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
			var s string
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(e.Error, &s) == nil {
				msg = s
			} else if json.Unmarshal(e.Error, &o) == nil && o.Message != "" {
				msg = o.Message
			}
		}
		if msg == "" {
			msg = resp.Status
		}
		return nil, &apiStatusError{Status: resp.StatusCode, Msg: msg}
	}
	return resp, nil
}

// getJSON reads the answer of GET path into v.
func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	return c.postJSON(ctx, http.MethodGet, path, nil, v)
}

// postJSON sends body and reads the JSON answer into v.
func (c *apiClient) postJSON(ctx context.Context, method, path string, body, v any) error {
	resp, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// stream posts body to path and calls each with every line of the NDJSON
// answer; a line {"error": "..."} ends the stream with that error.
func (c *apiClient) stream(ctx context.Context, path string, body any, each func([]byte) error) error {
	resp, err := c.request(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return &apiStatusError{Status: http.StatusOK, Msg: e.Error}
		}
		if err := each(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: the stream broke off: %w", path, err)
	}
	return nil
}

// probe reports whether an ondo (or Ollama) server answers at the
// client's address, waiting at most timeout.
func (c *apiClient) probe(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var v struct {
		Version string `json:"version"`
	}
	err := c.getJSON(ctx, "/api/version", &v)
	var se *apiStatusError
	if errors.As(err, &se) && se.Status == http.StatusUnauthorized {
		return true // a server that wants a key: its answers will say so
	}
	return err == nil && v.Version != ""
}
