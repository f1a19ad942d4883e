package tmf621

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/helpmesh/helpmesh/internal/webhook"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a delivery's timestamp may be from now.
const Tolerance = 5 * time.Minute

// ErrUnsigned marks a delivery whose signature is missing or wrong, or
// whose timestamp is outside Tolerance: it is refused with 401.
var ErrUnsigned = errors.New("tmf621: the delivery is not signed with the subscription's secret")

// Headers are a delivery's headers (an http.Header).
type Headers interface{ Get(key string) string }

// Verify checks the Standard Webhooks headers of a delivery of body
// against secret at now: one of the space-separated v1 signatures
// (several during a rotation) matches, compared in constant time, and
// the timestamp is within Tolerance. It returns the webhook-id, which
// the receiver remembers to apply a replayed delivery once. Any failure
// wraps ErrUnsigned.
func Verify(secret string, h Headers, body []byte, now time.Time) (string, error) {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || len(id) > 200 || ts == "" || sigs == "" || len(sigs) > 4096 {
		return "", fmt.Errorf("%w: a webhook-id, webhook-timestamp and webhook-signature are required", ErrUnsigned)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrUnsigned)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return "", fmt.Errorf("%w: webhook-timestamp is more than %v away", ErrUnsigned, Tolerance)
	}
	signed, err := webhook.Sign(secret, id, sec, body)
	if err != nil {
		return "", err
	}
	want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(signed, "v1,"))
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: no signature matches", ErrUnsigned)
}
