package rt5

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/helpmesh/helpmesh/internal/connector"
)

// content reads the body (plain text) and the files of a transaction.
// The body is the first text part without a file name: text/plain as it
// is, text/html (RT's rich-text editor) turned into text.
func (c *Client) content(ctx context.Context, txnID int64) (string, []connector.Attachment, error) {
	var p page[part]
	path := fmt.Sprintf("/transaction/%d/attachments", txnID) + query("per_page", "100", "fields", partFields)
	if _, err := c.call(ctx, "GET", path, nil, &p); err != nil {
		return "", nil, err
	}
	var plain, rich string
	var files []connector.Attachment
	for _, pt := range p.Items {
		typ := strings.ToLower(strings.TrimSpace(strings.Split(pt.ContentType, ";")[0]))
		switch {
		case strings.HasPrefix(typ, "multipart/"):
		case pt.Filename == "" && typ == "text/plain" && plain == "":
			plain = pt.Content
		case pt.Filename == "" && typ == "text/html" && rich == "":
			rich = pt.Content
		case pt.Filename != "":
			var a attachment
			if _, err := c.call(ctx, "GET", fmt.Sprintf("/attachment/%d", pt.ID), nil, &a); err != nil {
				return "", nil, err
			}
			data, err := a.data()
			if err != nil {
				return "", nil, permanent("%v", err)
			}
			files = append(files, connector.Attachment{Filename: pt.Filename, ContentType: typ, Data: data})
		}
	}
	if plain == "" && rich != "" {
		plain = htmlText(rich)
	}
	return strings.TrimRight(plain, "\n"), files, nil
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h[1-6]>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRun  = regexp.MustCompile(`\n{3,}`)
)

// htmlText turns the HTML of RT's editor into plain text: line breaks
// where blocks end, no tags, entities decoded.
func htmlText(s string) string {
	s = htmlBreak.ReplaceAllString(s, "$0\n")
	s = htmlTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	return strings.TrimSpace(blankRun.ReplaceAllString(s, "\n\n"))
}

// person returns an RT user as a Person, cached. A user the connector may
// not see is named only.
func (c *Client) person(ctx context.Context, name string) (connector.Person, error) {
	if name == "" {
		return connector.Person{}, nil
	}
	c.mu.Lock()
	p, ok := c.users[name]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	var u user
	_, err := c.call(ctx, "GET", "/user/"+url.PathEscape(name), nil, &u)
	var se *statusError
	switch {
	case errors.As(err, &se) && (se.code == http.StatusNotFound || se.code == http.StatusForbidden):
		p = connector.Person{Name: name}
	case err != nil:
		return connector.Person{}, err
	default:
		p = connector.Person{Email: u.EmailAddress, Name: u.RealName}
		if p.Name == "" {
			p.Name = u.Name
		}
	}
	c.mu.Lock()
	c.users[name] = p
	c.mu.Unlock()
	return p, nil
}
