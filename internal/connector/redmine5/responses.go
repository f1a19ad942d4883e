package redmine5

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// The parts of Redmine's REST JSON answers the client reads.

type named struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type issue struct {
	ID          int64        `json:"id"`
	Project     named        `json:"project"`
	Tracker     named        `json:"tracker"`
	Status      named        `json:"status"`
	Priority    named        `json:"priority"`
	Author      named        `json:"author"`
	Subject     string       `json:"subject"`
	Description string       `json:"description"`
	CreatedOn   time.Time    `json:"created_on"`
	UpdatedOn   time.Time    `json:"updated_on"`
	Attachments []attachment `json:"attachments"`
	Journals    []journal    `json:"journals"`
}

type attachment struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	Filesize    int64  `json:"filesize"`
	ContentType string `json:"content_type"`
}

type journal struct {
	ID           int64     `json:"id"`
	User         named     `json:"user"`
	Notes        string    `json:"notes"`
	PrivateNotes bool      `json:"private_notes"`
	CreatedOn    time.Time `json:"created_on"`
	Details      []detail  `json:"details"`
}

type detail struct {
	Property string `json:"property"` // attr, cf, attachment, relation
	Name     string `json:"name"`     // status_id, priority_id, the attachment's id, ...
	OldValue any    `json:"old_value"`
	NewValue any    `json:"new_value"`
}

type issueAnswer struct {
	Issue *issue `json:"issue"`
}

type issueList struct {
	Issues     []issue `json:"issues"`
	TotalCount int     `json:"total_count"`
	Offset     int     `json:"offset"`
	Limit      int     `json:"limit"`
}

type statusList struct {
	IssueStatuses []struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		IsClosed bool   `json:"is_closed"`
	} `json:"issue_statuses"`
}

type priorityList struct {
	IssuePriorities []named `json:"issue_priorities"`
}

type projectAnswer struct {
	Project *named `json:"project"`
}

type userAnswer struct {
	User *struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Firstname string `json:"firstname"`
		Lastname  string `json:"lastname"`
		Mail      string `json:"mail"`
	} `json:"user"`
}

type uploadAnswer struct {
	Upload *struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	} `json:"upload"`
}

// decodeIssue reads the answer of GET /issues/:id.json. An answer that
// is not JSON, or has no issue, wraps connector.ErrPermanent.
func decodeIssue(data []byte) (*issue, error) {
	var a issueAnswer
	if err := decodeJSON(data, &a); err != nil {
		return nil, err
	}
	if a.Issue == nil || a.Issue.ID <= 0 {
		return nil, fmt.Errorf("redmine5: the answer holds no issue: %w", connector.ErrPermanent)
	}
	for _, j := range a.Issue.Journals {
		if j.ID <= 0 {
			return nil, fmt.Errorf("redmine5: issue %d has a journal without an id: %w", a.Issue.ID, connector.ErrPermanent)
		}
	}
	return a.Issue, nil
}

// decodeJSON decodes one JSON answer; garbage wraps connector.ErrPermanent.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("redmine5: the answer is not the expected JSON (%v): %w", err, connector.ErrPermanent)
	}
	return nil
}

// detailValue is a detail's value as text (Redmine sends strings, or
// null when there was none).
func detailValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprintf("%.0f", x)
	default:
		return ""
	}
}
