// Package apperr holds the kinds of error the domain packages return, so
// that the HTTP layers can map them to status codes in one place.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the caller.
type Kind string

// The kinds of error.
const (
	Invalid Kind = "invalid" // bad input: 400
	// Unprocessable is well-formed input that breaks a rule of the domain
	// (a window that ends before it starts, a service that does not
	// exist): 422.
	Unprocessable Kind = "unprocessable"
	NotFound      Kind = "not_found"      // no such object, or not visible: 404
	Forbidden     Kind = "forbidden"      // visible but not allowed: 403
	Conflict      Kind = "conflict"       // state forbids it (frozen ticket, duplicate slug): 409
	Unauthorized  Kind = "unauthorized"   // no valid credentials: 401
	TooLarge      Kind = "too_large"      // over a size limit: 413
	RateLimited   Kind = "rate_limited"   // too many attempts: 429
	Unavailable   Kind = "unavailable"    // busy for now (a database lock held elsewhere): 503 with Retry-After
	Internal      Kind = "internal_error" // anything else: 500
)

// Error is a domain error with a kind, an optional field and a message that
// is safe to show to the caller.
type Error struct {
	Kind    Kind
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// New returns an error of kind k.
func New(k Kind, format string, a ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// Field returns an Invalid error about one input field.
func Field(field, format string, a ...any) error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Rule returns an Unprocessable error about one input field.
func Rule(field, format string, a ...any) error {
	return &Error{Kind: Unprocessable, Field: field, Message: fmt.Sprintf(format, a...)}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is tells whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
