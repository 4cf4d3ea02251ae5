// Package watch decodes the "watch" / 3G protocol of children's and senior
// GPS watches: `[XX*<id>*<len>*<content>]` (protocols.md §3). One Codec per
// connection.
package watch

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"carevisit/protocol"
)

// maxAudio bounds a voice message assembled from JXTK chunks.
const maxAudio = 1 << 20

// Codec is one connection's watch protocol state. Not safe for concurrent use.
type Codec struct {
	// Now is the clock used for messages that carry no time of their own.
	Now func() time.Time
	// Media stores a voice clip ("amr") or picture ("jpg") and returns the
	// name to record under "audio" / "image" (Traccar's writeMediaFile).
	// nil drops media: such frames yield no message.
	Media func(deviceID, ext string, data []byte) (string, error)

	id    string
	audio []byte // JXTK chunks received so far
}

var _ protocol.Codec = (*Codec)(nil)

// New returns a Codec using the system clock.
func New() *Codec { return &Codec{Now: time.Now} }

// DeviceID returns the id the device last sent, or "".
func (c *Codec) DeviceID() string { return c.id }

// SetDeviceID identifies the device out of band.
func (c *Codec) SetDeviceID(id string) { c.id = id }

func (c *Codec) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now().UTC()
}

// setID records the frame's id, reusing the cached string when unchanged.
func (c *Codec) setID(id []byte) string {
	if string(id) != c.id {
		c.id = string(id)
	}
	return c.id
}

// header is the parsed `[XX*id*[index*]len*` prefix of a frame.
type header struct {
	maker, id, index []byte // index nil when the device sent none
	length           int    // declared content length, -1 if unreadable
	content          int    // offset of the content in the frame
}

// parseHeader reads the frame prefix. The index segment is recognised as
// Traccar does: a segment followed by 4 hex digits and `*`.
func parseHeader(b []byte) (header, bool) {
	h := header{length: -1}
	if len(b) < 4 || b[0] != '[' || b[3] != '*' {
		return h, false
	}
	h.maker = b[1:3]
	rest := b[4:]
	i := bytes.IndexByte(rest, '*')
	if i < 1 || i > 64 {
		return h, false
	}
	h.id = rest[:i]
	for _, ch := range h.id {
		if ch <= ' ' || ch >= 0x7f || ch == '[' || ch == ']' {
			return h, false
		}
	}
	off := 4 + i + 1
	seg := bytes.IndexByte(b[off:], '*')
	if seg < 0 {
		return h, false
	}
	if p := off + seg; p+5 < len(b) && b[p+5] == '*' && isHex4(b[p+1:p+5]) {
		h.index = b[off:p]
		off = p + 1
	}
	if off+5 > len(b) || b[off+4] != '*' {
		return h, false
	}
	if isHex4(b[off : off+4]) {
		v, _ := strconv.ParseUint(string(b[off:off+4]), 16, 16)
		h.length = int(v)
	}
	h.content = off + 5
	return h, true
}

func isHex4(b []byte) bool {
	if len(b) != 4 {
		return false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Frame cuts the first `[...]` frame: it ends at the `]` that balances the
// opening `[` (Wi-Fi names may hold brackets), or at a `]` sitting exactly
// where the declared content length ends (so one unbalanced `[` in a name
// does not stall the stream). Bytes before `[` come back as ErrGarbage.
func (c *Codec) Frame(buf []byte) (n, skip int, err error) {
	if len(buf) == 0 {
		return 0, 0, nil
	}
	if buf[0] != '[' {
		skip = bytes.IndexByte(buf, '[')
		if skip < 0 {
			skip = len(buf)
		}
		return 0, skip, protocol.ErrGarbage
	}
	scan := buf[:min(len(buf), protocol.MaxFrame)]
	h, ok := parseHeader(scan)
	escapes, depth := 0, 0
	for i, b := range scan {
		switch b {
		case '}':
			if i+1 < len(scan) && scan[i+1] >= 1 && scan[i+1] <= 5 {
				escapes++ // `}` + code is one content byte
			}
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 || ok && h.length >= 0 && i >= h.content && i-h.content-escapes == h.length {
				return i + 1, 0, nil
			}
		}
	}
	if len(buf) >= protocol.MaxFrame {
		return 0, 0, fmt.Errorf("%w: no closing ']' in %d bytes", protocol.ErrTooLarge, len(scan))
	}
	return 0, 0, nil
}

// Unescape appends src to dst with the binary-content escapes resolved:
// `}01`=`}`, `}02`=`[`, `}03`=`]`, `}04`=`,`, `}05`=`*`. A `}` followed by
// anything else is kept as is.
func Unescape(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		b := src[i]
		if b == '}' && i+1 < len(src) && src[i+1] >= 1 && src[i+1] <= 5 {
			b = "}[],*"[src[i+1]-1]
			i++
		}
		dst = append(dst, b)
	}
	return dst
}
