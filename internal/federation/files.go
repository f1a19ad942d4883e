package federation

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/helpmesh/helpmesh/internal/apperr"
	"github.com/helpmesh/helpmesh/internal/ticket"
	"github.com/helpmesh/helpmesh/internal/tmf621"
)

// File is a file of a note a peer adds, decoded from its attachment, with
// the type the receiver decided from its content (fedapi).
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// storeFiles keeps the files of a note a peer adds; a file over MaxFile
// refuses the note (413).
func (s *Store) storeFiles(ctx context.Context, files []File) ([]ticket.NewAttachment, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if s.opts.Blobs == nil {
		return nil, apperr.Field("attachment", "this instance takes no files from peers")
	}
	out := make([]ticket.NewAttachment, 0, len(files))
	for _, f := range files {
		if int64(len(f.Data)) > s.opts.MaxFile {
			return nil, apperr.New(apperr.TooLarge, "attachment %q has %d bytes; this instance takes files of at most %d", f.Name, len(f.Data), s.opts.MaxFile)
		}
		sum, size, err := s.opts.Blobs.Put(ctx, bytes.NewReader(f.Data), s.opts.MaxFile)
		if err != nil {
			return nil, fmt.Errorf("federation: store file %q: %w", f.Name, err)
		}
		out = append(out, ticket.NewAttachment{Filename: ticket.SafeFilename(f.Name, "attachment"), ContentType: f.ContentType, Size: size, SHA256: sum})
	}
	return out, nil
}

// noteFiles returns the attachments of message m: with their content (the
// feed, which a peer applies from) or without (a ticket's notes, which
// list them). Files over the profile's bounds are listed without content.
func (s *Store) noteFiles(ctx context.Context, m *ticket.Message, content bool) ([]tmf621.Attachment, error) {
	if s.opts.Blobs == nil {
		return nil, nil
	}
	atts, err := s.opts.Tickets.MessageFiles(ctx, m.ID)
	if err != nil || len(atts) == 0 {
		return nil, err
	}
	var out []tmf621.Attachment
	var total int64
	for _, a := range atts {
		if len(out) == tmf621.MaxAttachments {
			break
		}
		meta := tmf621.Attachment{Name: a.Filename, MimeType: a.ContentType, Size: a.Size}
		if !content || total+a.Size > tmf621.MaxNoteFiles {
			out = append(out, meta)
			continue
		}
		f, err := s.opts.Blobs.Open(ctx, a.SHA256)
		if err != nil {
			return nil, fmt.Errorf("federation: attachment %d: %w", a.ID, err)
		}
		data, err := io.ReadAll(io.LimitReader(f, tmf621.MaxNoteFiles+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("federation: attachment %d: %w", a.ID, err)
		}
		total += a.Size
		out = append(out, tmf621.NewAttachment(a.Filename, a.ContentType, data))
	}
	return out, nil
}
