package api

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/db"
)

// errorBody is the one error envelope of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func statusOf(k apperr.Kind) int {
	switch k {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unprocessable:
		return http.StatusUnprocessableEntity
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.Unauthorized:
		return http.StatusUnauthorized
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case "unsupported_media_type":
		return http.StatusUnsupportedMediaType
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// statusClientClosed answers a request whose client went away (nginx's
// 499); nobody reads it, but the access log shows what happened.
const statusClientClosed = 499

// writeError maps err to a status and writes the envelope. Internal errors
// are logged and answered without detail.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", mbe.Limit)
	}
	err = a.DB.Unavailable(err)
	var e *apperr.Error
	if !errors.As(err, &e) && r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		// The client went away (or gave up waiting): nobody reads the
		// answer, and it is not a failure of the server.
		a.Log.Debug("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	if !errors.As(err, &e) {
		a.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &apperr.Error{Kind: apperr.Internal, Message: "internal error"}
	}
	if e.Kind == apperr.Unavailable {
		w.Header().Set("Retry-After", retryAfter())
	}
	writeJSON(w, statusOf(e.Kind), errorBody{Error: errorDetail{Code: string(e.Kind), Message: e.Message, Field: e.Field}})
}

// retryAfter is the Retry-After of a 503 for a busy database.
func retryAfter() string { return strconv.Itoa(int(db.RetryAfter.Seconds())) }

// decode reads one JSON object from the body into v, rejecting unknown
// fields, wrong types, trailing data and oversized bodies.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return &apperr.Error{Kind: "unsupported_media_type", Message: "send Content-Type: application/json"}
	}
	// A JSON null would decode into v as "no fields": only an object is a
	// request body.
	br := bufio.NewReader(r.Body)
	if err := expectObject(br); err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return apperr.New(apperr.Invalid, "the body must hold exactly one JSON object")
	}
	return nil
}

// expectObject skips leading white space and checks that the next byte
// opens a JSON object.
func expectObject(br *bufio.Reader) error {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return jsonError(err)
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return br.UnreadByte()
		}
		return apperr.New(apperr.Invalid, "the body must be a JSON object")
	}
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "the request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Invalid, "the JSON body ends too early")
	case errors.As(err, &syn):
		return apperr.New(apperr.Invalid, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.New(apperr.Invalid, "the body must be a JSON object")
		}
		return apperr.Field(field, "must be a JSON %s", jsonKind(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apperr.New(apperr.Invalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return apperr.New(apperr.Invalid, "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "int32", "float64":
		return "number"
	case "slice":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return k
}

// pathID reads a numeric id from the path.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Field(name, "%q is not a positive number", s)
	}
	return id, nil
}

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 't' {
		return 0, apperr.Field("cursor", "is not a cursor from a previous page")
	}
	id, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Field("cursor", "is not a cursor from a previous page")
	}
	return id, nil
}

func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, apperr.Field(name, "must be a number from %d to %d", lo, hi)
	}
	return n, nil
}

func forbidden(format string, a ...any) error {
	return apperr.New(apperr.Forbidden, format, a...)
}
