package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Once its body has arrived, a request may take longer than the read
// timeout: the expired deadline must not cancel its context.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := httptest.NewServer(bodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(3 * timeout):
			io.WriteString(w, "done")
		}
	}), timeout))
	defer srv.Close()
	res, err := http.Post(srv.URL, "text/plain", strings.NewReader("a small body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("%d %s", res.StatusCode, b)
	}
}
