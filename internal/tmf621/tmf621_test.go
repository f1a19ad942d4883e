package tmf621_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpmesh/helpmesh/internal/tmf621"
	"github.com/helpmesh/helpmesh/internal/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func signed(t testing.TB, id string, at time.Time, body []byte) http.Header {
	sig, err := webhook.Sign(secret, id, at.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(tmf621.HeaderID, id)
	h.Set(tmf621.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(tmf621.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"ticket.message"}`)
	h := signed(t, "msg_1", now, body)
	if id, err := tmf621.Verify(secret, h, body, now.Add(time.Minute)); err != nil || id != "msg_1" {
		t.Fatalf("a good delivery: %q %v", id, err)
	}
	// A rotation: the old signature next to the new one.
	h2 := h.Clone()
	h2.Set(tmf621.HeaderSignature, "v1,AAAA "+h.Get(tmf621.HeaderSignature))
	if _, err := tmf621.Verify(secret, h2, body, now); err != nil {
		t.Errorf("two signatures: %v", err)
	}
	for name, tc := range map[string]struct {
		h    func() http.Header
		body []byte
		at   time.Time
	}{
		"changed body":    {func() http.Header { return h }, []byte(`{"type":"ticket.note"}`), now},
		"too old":         {func() http.Header { return h }, body, now.Add(6 * time.Minute)},
		"from the future": {func() http.Header { return h }, body, now.Add(-6 * time.Minute)},
		"unsigned":        {func() http.Header { c := h.Clone(); c.Del(tmf621.HeaderSignature); return c }, body, now},
		"other id":        {func() http.Header { c := h.Clone(); c.Set(tmf621.HeaderID, "msg_2"); return c }, body, now},
		"v2 scheme": {func() http.Header {
			c := h.Clone()
			c.Set(tmf621.HeaderSignature, strings.Replace(h.Get(tmf621.HeaderSignature), "v1,", "v2,", 1))
			return c
		}, body, now},
		"bad timestamp": {func() http.Header { c := h.Clone(); c.Set(tmf621.HeaderTimestamp, "soon"); return c }, body, now},
	} {
		if _, err := tmf621.Verify(secret, tc.h(), tc.body, tc.at); !errors.Is(err, tmf621.ErrUnsigned) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDecodeTicket(t *testing.T) {
	good := `{"name":"Disk full","description":"full","priority":"urgent","status":"inProgress","@baseType":"x",
	  "relatedParty":[{"role":"requester","email":"ann@uni.example"}],
	  "externalReference":[{"id":"12","owner":"hm:a"}],
	  "troubleTicketCharacteristic":[{"name":"helpmesh.status","value":"on_hold"}]}`
	tt, err := tmf621.DecodeTicket(strings.NewReader(good), true)
	if err != nil {
		t.Fatal(err)
	}
	if tt.FineStatus() != "on_hold" || len(tt.ExternalIdentifier) != 1 || tt.ExternalIdentifier[0].ID != "12" {
		t.Errorf("ticket = %+v", tt)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `{"name":"x"} {}`, `{"name":`,
		`{"name":"x","description":"y"}`,
		`{"name":"x","description":"y","relatedParty":[{"role":"requester","email":"nobody"}]}`,
		`{"name":" ","description":"y","relatedParty":[{"email":"a@b"}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"status":"exploded"}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"note":[{"text":""}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"note":[{"text":"t","visibility":"secret"}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"externalIdentifier":[{"owner":"o"}]}`,
		`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}],"troubleTicketCharacteristic":[{"value":"o"}]}`,
		`{"name":1}`,
	} {
		if _, err := tmf621.DecodeTicket(strings.NewReader(bad), true); !errors.Is(err, tmf621.ErrInvalid) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	if _, err := tmf621.DecodeTicket(strings.NewReader(`{"priority":"urgent"}`), false); err != nil {
		t.Errorf("a patch: %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	for fine, coarse := range map[string]string{"new": "acknowledged", "in_progress": "inProgress", "waiting_for_reply": "pending",
		"solved": "resolved", "verified": "closed", "closed": "closed", "on_hold": "held"} {
		if got := tmf621.ToCoarse(fine); got != coarse {
			t.Errorf("ToCoarse(%s) = %s", fine, got)
		}
	}
	if tmf621.FromCoarse("resolved") != "solved" || tmf621.FromCoarse("nonsense") != "" {
		t.Error("FromCoarse")
	}
}

// FuzzDecodeTicket: any input either decodes into a ticket that
// validates or is refused as invalid; nothing panics.
func FuzzDecodeTicket(f *testing.F) {
	for _, s := range []string{`{"name":"x","description":"y","relatedParty":[{"email":"a@b"}]}`, `{}`, `{"note":[{"text":"t"}]}`,
		`{"externalReference":[{"id":"1"}]}`, `{"status":"resolved","troubleTicketCharacteristic":[{"name":"helpmesh.status","value":"solved"}]}`, `[`, "\x00"} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, create bool) {
		tt, err := tmf621.DecodeTicket(bytes.NewReader(data), create)
		if err != nil {
			if !errors.Is(err, tmf621.ErrInvalid) {
				t.Fatalf("an error that is not ErrInvalid: %v", err)
			}
			return
		}
		if err := tt.Validate(create); err != nil {
			t.Fatalf("a decoded ticket does not validate: %v", err)
		}
		if _, err := tmf621.DecodeEventPage(bytes.NewReader(data)); err != nil && !errors.Is(err, tmf621.ErrInvalid) {
			t.Fatalf("feed: %v", err)
		}
	})
}

// FuzzVerify: only the exact signed delivery verifies.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add("msg_1", strconv.FormatInt(now.Unix(), 10), "", []byte(`{}`))
	f.Add("", "", "v1,", []byte(nil))
	f.Add("msg_1", "1800000000", "v1,Zm9v v2,YmFy", []byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(tmf621.HeaderID, id)
		h.Set(tmf621.HeaderTimestamp, ts)
		if sig == "" {
			sig = signed(t, id, now, []byte(`{}`)).Get(tmf621.HeaderSignature)
		}
		h.Set(tmf621.HeaderSignature, sig)
		got, err := tmf621.Verify(secret, h, body, now)
		if err != nil {
			if !errors.Is(err, tmf621.ErrUnsigned) {
				t.Fatalf("an error that is not ErrUnsigned: %v", err)
			}
			return
		}
		want, _ := webhook.Sign(secret, got, now.Unix(), body)
		if !strings.Contains(sig, want) {
			t.Fatalf("verified a delivery not signed so: %q", sig)
		}
	})
}
