package webui_test

import (
	"log"
	"net/http"

	"github.com/ondo-ai/ondo/webui"
)

// The page on a server of one's own: ondo serve mounts it the same way,
// next to the API it calls.
func ExampleHandler() {
	mux := http.NewServeMux()
	page := webui.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+webui.AssetPrefix, page)
	// mux.Handle("POST /api/chat", ...) and the rest of the Ollama API.
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}
