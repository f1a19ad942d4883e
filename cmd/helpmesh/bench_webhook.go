package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/helpmesh/helpmesh/client"
)

// benchWebhook subscribes a webhook to every event, delivered to a
// receiver in this process that answers 204 at once (a receiver that
// costs next to nothing, so that the figures are helpmesh's). stop
// removes the webhook and prints how many deliveries arrived.
func benchWebhook(ctx context.Context, admin *client.Client, out io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	var got atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	wh, err := admin.CreateWebhook(ctx, client.Webhook{URL: "http://" + ln.Addr().String() + "/bench", Events: []string{"*"}})
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("subscribe the bench webhook: %w", err)
	}
	fmt.Fprintf(out, "webhook %d subscribed to every event, receiver %s\n", wh.ID, ln.Addr())
	return func() {
		if err := admin.DeleteWebhook(context.WithoutCancel(ctx), wh.ID); err != nil {
			fmt.Fprintf(out, "removing the bench webhook: %v\n", err)
		}
		srv.Close()
		fmt.Fprintf(out, "webhook receiver: %d deliveries\n", got.Load())
	}, nil
}
