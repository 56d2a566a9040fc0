package store

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// HubHost is the host part of the names of models pulled from the Hugging
// Face Hub: hf.co/OWNER/REPO:QUANT.
const HubHost = "hf.co"

// DefaultTag is the tag of a name that has none, as in Ollama: "mymodel" is
// "mymodel:latest". For a Hub name it means the default quantization.
const DefaultTag = "latest"

// Limits on the parts of a name. The Hub allows 96 characters for an owner
// or a repository; tags are quantization labels or short words.
const (
	maxComponent = 96
	maxTag       = 128
)

// Name is a parsed model name. There are two kinds:
//
//   - a Hub name, hf.co/OWNER/REPO:TAG (OWNER/REPO:TAG and
//     huggingface.co/OWNER/REPO:TAG mean the same), where the tag is a
//     quantization such as Q4_K_M, or "latest" for the default one;
//   - a local name, NAME:TAG, for models imported with Create.
//
// Every part is made of ASCII letters, digits, '.', '_' and '-', starts with
// a letter or digit, and is not a name Windows reserves (CON, NUL, COM1…),
// so that a name maps to a file path inside the store and nothing else.
// Names are compared without regard to case.
type Name struct {
	// Host is HubHost for a Hub name and empty for a local name.
	Host string
	// Owner is the Hub user or organisation; empty for a local name.
	Owner string
	// Model is the repository of a Hub name or the whole of a local name.
	Model string
	// Tag is what follows ':', DefaultTag when there was nothing.
	Tag string
}

// Hub reports whether n names a Hugging Face repository.
func (n Name) Hub() bool { return n.Host != "" }

// Repo returns OWNER/REPO of a Hub name, empty for a local name.
func (n Name) Repo() string {
	if !n.Hub() {
		return ""
	}
	return n.Owner + "/" + n.Model
}

// String returns the canonical spelling: hf.co/OWNER/REPO:TAG or NAME:TAG.
func (n Name) String() string {
	if n.Hub() {
		return n.Host + "/" + n.Owner + "/" + n.Model + ":" + n.Tag
	}
	return n.Model + ":" + n.Tag
}

// manifestPath returns the manifest's path relative to the manifests
// folder, with '/' separators: hf.co/owner/repo/tag.json or name/tag.json,
// all lower case so that names differing in case are one model on every
// file system.
func (n Name) manifestPath() string {
	parts := []string{n.Model, n.Tag + ".json"}
	if n.Hub() {
		parts = []string{n.Host, n.Owner, n.Model, n.Tag + ".json"}
	}
	return strings.ToLower(path.Join(parts...))
}

// NameError reports a name that cannot be used, and why.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid model name %q: %s", e.Name, e.Reason)
}

// hubHosts are the host spellings accepted for the Hub.
var hubHosts = map[string]bool{"hf.co": true, "huggingface.co": true}

// ParseName parses and validates a model name. The error, a *NameError,
// says what is wrong: an empty part, a path that climbs out ("..") or is
// absolute, a backslash, a NUL byte or another character names cannot hold.
func ParseName(s string) (Name, error) {
	bad := func(format string, args ...any) (Name, error) {
		return Name{}, &NameError{Name: s, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case s == "":
		return bad("the name is empty")
	case strings.IndexByte(s, 0) >= 0:
		return bad("it contains a NUL byte")
	case strings.Contains(s, `\`):
		return bad(`it contains a backslash; names use "/" between OWNER and REPO`)
	case strings.HasPrefix(s, "/") || filepath.IsAbs(s) || filepath.VolumeName(s) != "":
		return bad("it is an absolute path, not a model name")
	case len(s) > 2*maxComponent+maxTag+len("huggingface.co//:"):
		return bad("it is %d bytes long", len(s))
	}
	repo, tag := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		repo, tag = s[:i], s[i+1:]
		if strings.Contains(tag, "/") {
			return bad("the tag %q after ':' contains '/'", tag)
		}
		if strings.Contains(repo, ":") {
			return bad("it has more than one ':'")
		}
		if tag == "" {
			return bad("the tag after ':' is empty")
		}
	}
	parts := strings.Split(repo, "/")
	for _, p := range parts {
		switch {
		case p == "":
			return bad("it has an empty path element (a leading, trailing or double '/')")
		case p == "." || p == "..":
			return bad("it contains %q, which would leave the model store", p)
		}
	}
	var n Name
	switch {
	case len(parts) == 3 && hubHosts[strings.ToLower(parts[0])]:
		n = Name{Host: HubHost, Owner: parts[1], Model: parts[2]}
	case len(parts) == 3:
		return bad("unknown host %q: only Hugging Face names (hf.co/OWNER/REPO) can be pulled", parts[0])
	case len(parts) == 2 && hubHosts[strings.ToLower(parts[0])]:
		return bad("a Hugging Face name needs OWNER/REPO after %s/", HubHost)
	case len(parts) == 2:
		n = Name{Host: HubHost, Owner: parts[0], Model: parts[1]}
	case len(parts) == 1 && hubHosts[strings.ToLower(parts[0])]:
		return bad("a Hugging Face name needs OWNER/REPO after %s/", HubHost)
	case len(parts) == 1:
		n = Name{Model: parts[0]}
	default:
		return bad("it has %d path elements; use NAME, OWNER/REPO or hf.co/OWNER/REPO", len(parts))
	}
	if n.Hub() {
		if err := checkPart("owner", n.Owner, maxComponent); err != "" {
			return bad("%s", err)
		}
		if err := checkPart("repository", n.Model, maxComponent); err != "" {
			return bad("%s", err)
		}
	} else if err := checkPart("name", n.Model, maxComponent); err != "" {
		return bad("%s", err)
	}
	n.Tag = DefaultTag
	if tag != "" {
		if err := checkPart("tag", tag, maxTag); err != "" {
			return bad("%s", err)
		}
		n.Tag = tag
	}
	return n, nil
}

// checkPart validates one part of a name and returns what is wrong with it,
// or "".
func checkPart(what, p string, max int) string {
	if len(p) > max {
		return fmt.Sprintf("the %s is %d characters long; at most %d are allowed", what, len(p), max)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == '-':
			if i == 0 {
				return fmt.Sprintf("the %s %q starts with %q; it must start with a letter or digit", what, p, c)
			}
		default:
			if c < 0x20 || c >= 0x7f {
				return fmt.Sprintf("the %s %q contains the byte 0x%02x; only letters, digits, '.', '_' and '-' are allowed", what, p, c)
			}
			return fmt.Sprintf("the %s %q contains %q; only letters, digits, '.', '_' and '-' are allowed", what, p, c)
		}
	}
	if strings.Contains(p, "..") {
		return fmt.Sprintf("the %s %q contains \"..\"", what, p)
	}
	if windowsReserved(p) {
		return fmt.Sprintf("the %s %q is a file name Windows reserves", what, p)
	}
	return ""
}

// windowsReserved reports whether p, ignoring case and any extension, is a
// device name Windows will not create a file for.
func windowsReserved(p string) bool {
	base, _, _ := strings.Cut(strings.ToUpper(p), ".")
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '0' && base[3] <= '9' {
		return true
	}
	return false
}
