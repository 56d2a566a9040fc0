package server_test

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/ondo-ai/ondo/server"
)

// Serve the models in a folder on the default address until interrupted,
// then let running streams finish for up to 30 seconds.
func ExampleNew() {
	keep := 10 * time.Minute
	srv, err := server.New(server.Config{
		ModelsDir:       "/var/lib/ondo/models", // tiny.gguf is the model "tiny"
		MaxLoadedModels: 2,
		KeepAlive:       &keep,
		APIKey:          os.Getenv("ONDO_API_KEY"),
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", server.DefaultAddr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	grace, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.Shutdown(grace)
}
