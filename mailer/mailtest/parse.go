package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// Part is a decoded leaf of a MIME message.
type Part struct {
	ContentType string // media type without parameters
	FileName    string // attachments only
	Data        []byte
}

// Parsed is a received message, decoded.
type Parsed struct {
	Header mail.Header
	// Subject is decoded (RFC 2047).
	Subject string
	Parts   []Part
}

// Text returns the first text/plain part.
func (p Parsed) Text() string {
	for _, part := range p.Parts {
		if part.ContentType == "text/plain" && part.FileName == "" {
			return string(part.Data)
		}
	}
	return ""
}

// Attachments returns the parts that carry a file name.
func (p Parsed) Attachments() []Part {
	var out []Part
	for _, part := range p.Parts {
		if part.FileName != "" {
			out = append(out, part)
		}
	}
	return out
}

// Parse decodes a received message the way a mail client would.
func (r Received) Parse() (Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return Parsed{}, err
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: m.Header, Subject: subj}
	err = walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"),
		m.Header.Get("Content-Disposition"), m.Body, &p.Parts)
	return p, err
}

func walk(ctype, cte, disp string, body io.Reader, out *[]Part) error {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"),
				part.Header.Get("Content-Disposition"), part, out); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	var name string
	if disp != "" {
		if _, dp, err := mime.ParseMediaType(disp); err == nil {
			name = dp["filename"]
		}
	}
	if name == "" {
		name = params["name"]
	}
	*out = append(*out, Part{ContentType: mt, FileName: name, Data: data})
	return nil
}
