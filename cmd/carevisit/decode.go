package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"carevisit/protocol"
	"carevisit/protocol/gt06"
	"carevisit/protocol/h02"
	"carevisit/protocol/osmand"
	"carevisit/protocol/watch"
)

// decodeSynopsis ends every usage error; -h prints decodeUsage.
const decodeSynopsis = "usage: carevisit decode -proto gt06|h02|watch|osmand [-hex] [-imei ID] < lines"

const decodeUsage = decodeSynopsis + `

Decodes what a tracker sent, one input a line on stdin, and prints one JSON
line per input: {"messages":[...]} (with "reply_hex" when the device gets an
answer) or {"error":"..."}. Lines are one connection: the session (login)
carries over, and bytes of an incomplete frame wait for the next line.
  -hex    each line is the hex of the bytes received (spaces and colons ignored);
          without it the line is the raw text (h02 "*HQ,...#", watch "[SG*...]",
          or for osmand a request line "GET /?id=..&lat=..&lon=.." where a
          literal \r\n stands for a line break)
  -imei   start identified as this device, as if it had logged in (stream protocols)
Blank lines and lines starting with # are skipped.
`

// maxDecodeLine bounds one input line (hex of a whole HTTP request fits).
const maxDecodeLine = 1 << 20

// decodeLine is one output line.
type decodeLine struct {
	Messages   *[]protocol.Message `json:"messages,omitempty"`
	ReplyHex   string              `json:"reply_hex,omitempty"`
	HTTPStatus int                 `json:"http_status,omitempty"`   // osmand: what the server answers
	Skipped    int                 `json:"skipped_bytes,omitempty"` // garbage between frames
	Pending    int                 `json:"pending_bytes,omitempty"` // incomplete frame kept for the next line
	Error      string              `json:"error,omitempty"`
}

// lineDecoder decodes one input line's bytes.
type lineDecoder interface {
	decode(data []byte) decodeLine
}

// cmdDecode implements `carevisit decode`.
func cmdDecode(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned with the usage below
	proto := fs.String("proto", "", "gt06, h02, watch or osmand")
	isHex := fs.Bool("hex", false, "lines are hex")
	imei := fs.String("imei", "", "device id to start identified with")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err = io.WriteString(stdout, decodeUsage)
			return err
		}
		return fmt.Errorf("decode: %v\n%s", err, decodeSynopsis)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("decode: unexpected argument %q (input comes on stdin)\n%s", fs.Arg(0), decodeSynopsis)
	}

	var d lineDecoder
	switch p := strings.ToLower(*proto); p {
	case "osmand":
		d = osmandDecoder{now: time.Now}
	case "":
		return fmt.Errorf("decode: -proto is required\n%s", decodeSynopsis)
	default:
		codec, err := newCodec(p)
		if err != nil {
			return fmt.Errorf("decode: %w\n%s", err, decodeSynopsis)
		}
		if *imei != "" {
			codec.SetDeviceID(*imei)
		}
		d = &streamDecoder{codec: codec}
	}

	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64*1024), maxDecodeLine)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var out decodeLine
		if data, err := lineBytes(text, *isHex, *proto == "osmand"); err != nil {
			out.Error = err.Error()
		} else {
			out = d.decode(data)
		}
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("decode: reading input: %w", err)
	}
	return nil
}

// newCodec returns a fresh connection decoder for a stream protocol.
func newCodec(proto string) (protocol.Codec, error) {
	switch proto {
	case "gt06":
		return gt06.New(), nil
	case "h02":
		return h02.New(), nil
	case "watch":
		return watch.New(), nil
	}
	return nil, fmt.Errorf("unknown protocol %q", proto)
}

// lineBytes turns an input line into the bytes the device sent.
func lineBytes(text string, isHex, http bool) ([]byte, error) {
	if isHex {
		h := strings.NewReplacer(" ", "", "\t", "", ":", "").Replace(text)
		h = strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X")
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("bad hex: %v", err)
		}
		return b, nil
	}
	if !http {
		return []byte(text), nil
	}
	// A request typed on one line: a request line, maybe with literal \r\n
	// for the line breaks of headers and body.
	text = strings.ReplaceAll(text, `\r\n`, "\r\n")
	if !strings.Contains(text, "\r\n\r\n") {
		if strings.HasPrefix(text, "/") {
			text = "GET " + text
		}
		if !strings.Contains(text, " HTTP/") {
			text += " HTTP/1.1"
		}
		text += "\r\n\r\n"
	}
	return []byte(text), nil
}

// osmandDecoder decodes each line as one HTTP request.
type osmandDecoder struct{ now func() time.Time }

func (o osmandDecoder) decode(data []byte) decodeLine {
	msgs, err := osmand.ParseRequest(data, o.now())
	if err != nil {
		// Traccar answers 400 to a request it cannot use; so does our server.
		return decodeLine{Error: err.Error(), HTTPStatus: 400}
	}
	return decodeLine{Messages: &msgs, HTTPStatus: 200}
}

// streamDecoder feeds lines to one Codec as one TCP connection would.
type streamDecoder struct {
	codec protocol.Codec
	buf   []byte // received, not yet framed
}

func (s *streamDecoder) decode(data []byte) decodeLine {
	s.buf = append(s.buf, data...)
	var (
		out      decodeLine
		msgs     = []protocol.Message{}
		reply    []byte
		errs     []string
		dropped  int
		scratch  [256]byte
		consumed int
	)
	for consumed < len(s.buf) {
		rest := s.buf[consumed:]
		n, skip, err := s.codec.Frame(rest)
		if errors.Is(err, protocol.ErrGarbage) {
			skip = min(max(skip, 1), len(rest)) // always make progress
			out.Skipped += skip
			consumed += skip
			continue
		}
		if err != nil {
			// The server would close the connection here; the tool drops
			// the buffered bytes and carries on with the next line.
			errs = append(errs, fmt.Sprintf("%v (connection would be closed; %d bytes dropped)", err, len(rest)))
			consumed = len(s.buf)
			break
		}
		if n == 0 {
			break
		}
		if n > len(rest) {
			errs = append(errs, fmt.Sprintf("codec framed %d bytes of %d", n, len(rest)))
			consumed = len(s.buf)
			break
		}
		got, r, err := s.codec.Decode(rest[:n], nil, scratch[:0])
		consumed += n
		reply = append(reply, r...)
		if errors.Is(err, protocol.ErrNoDevice) {
			errs = append(errs, err.Error()+" (the device must log in first; pass -imei ID to decode anyway)")
		} else if err != nil {
			errs = append(errs, err.Error())
		}
		for _, m := range got {
			if m.DeviceID == "" {
				m.DeviceID = s.codec.DeviceID()
			}
			if m.DeviceID == "" {
				// The server drops data before the device identified itself.
				dropped++
				continue
			}
			msgs = append(msgs, m)
		}
	}
	// Keep the incomplete tail in a fresh slice: frames handed to Decode
	// must not be overwritten by the next append.
	s.buf = append([]byte(nil), s.buf[consumed:]...)
	out.Pending = len(s.buf)

	if dropped > 0 {
		errs = append(errs, fmt.Sprintf("%v: %d message(s) dropped (the server ignores data before a login; pass -imei ID to decode them)", protocol.ErrNoDevice, dropped))
	}
	if len(reply) > 0 {
		out.ReplyHex = hex.EncodeToString(reply)
	}
	out.Error = strings.Join(errs, "; ")
	if len(msgs) > 0 || out.Error == "" {
		out.Messages = &msgs
	}
	return out
}
