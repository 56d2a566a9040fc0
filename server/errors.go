package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is an error with the HTTP status it answers with. Handlers
// return it; writeError renders it in the shape of the API the request came
// to: OpenAI's {"error":{"message","type","param","code"}} under /v1/, and
// Ollama's {"error":"message"} elsewhere.
type apiError struct {
	Status int
	// Type is OpenAI's error type (invalid_request_error, …).
	Type string
	// Code is OpenAI's machine-readable code (model_not_found, …), or "".
	Code string
	// Param names the request field at fault, or "".
	Param string
	Msg   string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Msg }

// OpenAI's error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typeNotFound       = "not_found_error"
	typeRateLimit      = "rate_limit_error"
	typeServer         = "server_error"
	typeUnavailable    = "service_unavailable"
	typeInsufficient   = "insufficient_storage"
	typeNotImplemented = "not_implemented"
)

// badRequest is a 400 naming the field at fault.
func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: param, Msg: fmt.Sprintf(format, args...)}
}

// asAPIError converts any error to an apiError; errors that are not
// apiErrors are internal (500).
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large",
			Msg: fmt.Sprintf("the request body is larger than the limit of %d bytes", mbe.Limit)}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Msg: err.Error()}
}

// isOpenAIPath reports whether a request path belongs to the OpenAI API,
// whose error shape differs from Ollama's.
func isOpenAIPath(p string) bool { return strings.HasPrefix(p, "/v1/") || p == "/v1" }

// writeError answers r with err in the error shape of r's API.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := asAPIError(err)
	if ae.RetryAfter > 0 {
		secs := int((ae.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ondo"`)
	}
	if isOpenAIPath(r.URL.Path) {
		type body struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		}
		b := body{Message: ae.Msg, Type: ae.Type}
		if b.Type == "" {
			b.Type = typeServer
		}
		if ae.Param != "" {
			b.Param = &ae.Param
		}
		if ae.Code != "" {
			b.Code = &ae.Code
		}
		writeJSON(w, ae.Status, map[string]any{"error": b})
		return
	}
	writeJSON(w, ae.Status, map[string]string{"error": ae.Msg})
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// decodeJSON reads r's body as one JSON value into v, turning every way a
// body can be wrong into a 4xx with a message a person can act on.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	// The body has a deadline of its own: the server has no ReadTimeout,
	// which would also cut long streams, so a client that trickles its body
	// is stopped here. The deadline is lifted before the handler goes on to
	// generate.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout))
	defer rc.SetReadDeadline(time.Time{})

	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return asAPIError(err)
		}
		return badRequest("", "invalid JSON: the body holds more than one JSON value")
	}
	return nil
}

// bodyReadTimeout bounds how long a client may take to send a request body.
const bodyReadTimeout = 60 * time.Second

// jsonError turns an encoding/json error into a 4xx apiError.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
		ae  *apiError
	)
	switch {
	case errors.As(err, &mbe):
		return asAPIError(err)
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, io.EOF):
		return badRequest("", "the request body is empty: expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "invalid JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return badRequest("", "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := jsonPath(typ.Field)
		if field == "" {
			return badRequest("", "invalid request: expected a JSON object, got %s", typ.Value)
		}
		return badRequest(field, "invalid value for %q: expected %s, got %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	default:
		return badRequest("", "invalid request: %v", err)
	}
}

// jsonPath drops from encoding/json's field path the Go names of embedded
// structs (camelCase, such as oaiSampling), leaving the path the client
// wrote: the JSON keys of these APIs are lower case, words joined by "_".
func jsonPath(p string) string {
	parts := strings.Split(p, ".")
	out := parts[:0]
	for _, s := range parts {
		if s != "" && !(s[0] >= 'a' && s[0] <= 'z' && strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && !strings.Contains(s, "_")) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ".")
}

// jsonTypeName names a Go kind the way a JSON user thinks of it.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "a value of another type"
}
