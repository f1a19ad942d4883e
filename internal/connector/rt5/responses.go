package rt5

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flexID is an RT id, which REST2 writes as a string in collections and
// as a number in single records.
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	id, err := parseID(s)
	if err != nil {
		return err
	}
	*f = flexID(id)
	return nil
}

// parseID reads a positive RT id.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not an RT id", s)
	}
	return id, nil
}

// userRef is how REST2 names a user: {"id": "<name>", "type": "user"}.
type userRef struct {
	ID string `json:"id"`
}

// page is one page of a REST2 collection.
type page[T any] struct {
	Items []T   `json:"items"`
	Page  count `json:"page"`
	Pages count `json:"pages"`
	Total count `json:"total"`
}

// count is a page number or a total, which RT writes as 0.0 for an empty
// collection.
type count int

func (n *count) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || f < 0 || f > 1e9 || f != float64(int(f)) {
		return fmt.Errorf("%s is not a count", b)
	}
	*n = count(f)
	return nil
}

// created is the answer to POST /ticket.
type created struct {
	ID flexID `json:"id"`
}

// recordType takes REST2's "type" key ("transaction", "attachment"...),
// so that it is not read as the record's own "Type" field: encoding/json
// matches keys without regard to case when no field has the exact name.
type recordType struct {
	Record string `json:"type"`
}

// txn is a transaction as listed with the fields the client asks for.
type txn struct {
	recordType
	ID         flexID  `json:"id"`
	Type       string  `json:"Type"`
	Field      string  `json:"Field"`
	OldValue   string  `json:"OldValue"`
	NewValue   string  `json:"NewValue"`
	Created    rtTime  `json:"Created"`
	Creator    userRef `json:"Creator"`
	ObjectType string  `json:"ObjectType"`
	ObjectID   string  `json:"ObjectId"`
}

// txnFields are the fields asked for in every transaction listing.
const txnFields = "Type,Field,OldValue,NewValue,Created,Creator,ObjectType,ObjectId"

// part is one MIME part of a transaction, as listed.
type part struct {
	recordType
	ID          flexID `json:"id"`
	Filename    string `json:"Filename"`
	ContentType string `json:"ContentType"`
	Content     string `json:"Content"` // decoded text (only text parts are read from here)
}

// partFields are the fields asked for in attachment listings.
const partFields = "Filename,ContentType,Content"

// attachment is one attachment record, whose Content is base64.
type attachment struct {
	recordType
	ID          flexID `json:"id"`
	Filename    string `json:"Filename"`
	ContentType string `json:"ContentType"`
	Content     string `json:"Content"`
}

// data decodes the base64 content (RT wraps it in lines).
func (a attachment) data() ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' {
			return -1
		}
		return r
	}, a.Content)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("attachment %d: content is not base64: %w", a.ID, err)
	}
	return b, nil
}

// ticket is a ticket as read with GET /ticket/:id or in a listing.
type ticket struct {
	recordType
	ID          flexID    `json:"id"`
	Subject     string    `json:"Subject"`
	Status      string    `json:"Status"`
	Priority    flexInt   `json:"Priority"`
	Created     rtTime    `json:"Created"`
	LastUpdated rtTime    `json:"LastUpdated"`
	Creator     userRef   `json:"Creator"`
	Requestor   []userRef `json:"Requestor"`
	Queue       userRef   `json:"Queue"`
}

// ticketFields are the fields asked for in ticket listings.
const ticketFields = "Subject,Status,Priority,Created,LastUpdated,Creator,Requestor,Queue"

// user is an RT user record.
type user struct {
	Name         string `json:"Name"`
	EmailAddress string `json:"EmailAddress"`
	RealName     string `json:"RealName"`
}

// flexInt is a number RT writes as a string or a number ("" is 0).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*f = flexInt(n)
	return nil
}

// rtTime is a REST2 date: RFC 3339 in UTC, "" or "1970-01-01T00:00:00Z"
// when unset.
type rtTime time.Time

func (t *rtTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a date is not a string")
	}
	if s == "" {
		*t = rtTime{}
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is not a date", s)
	}
	*t = rtTime(v.UTC())
	return nil
}

// decodeTxnPage decodes a page of transactions; every item must have an
// id and an object id (the fuzz test feeds it garbage).
func decodeTxnPage(raw []byte) (page[txn], error) {
	var p page[txn]
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, err
	}
	for _, t := range p.Items {
		if t.ID <= 0 {
			return p, errors.New("a transaction has no id")
		}
	}
	return p, nil
}
