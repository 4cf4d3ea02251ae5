package gt06

// reader reads big-endian fields from a frame. A read past the end returns
// zero and marks the reader bad instead of panicking; Decode rejects a frame
// whose reader went bad, as Traccar does when its buffer underflows.
//
// The reader spans the whole frame, so left() counts the 6 trailing bytes
// (serial, CRC, stop) like Traccar's readableBytes(): several layouts are
// chosen by "exactly N bytes left before the trailer".
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) left() int { return len(r.b) - r.off }

// take returns the next n bytes (a view into the frame) or nil when fewer
// remain.
func (r *reader) take(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.bad = true
		r.off = len(r.b)
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) u8() int {
	if r.off >= len(r.b) {
		r.bad = true
		return 0
	}
	v := r.b[r.off]
	r.off++
	return int(v)
}

// peek returns the byte i positions ahead without consuming it.
func (r *reader) peek(i int) int {
	if r.off+i >= len(r.b) || i < 0 {
		r.bad = true
		return 0
	}
	return int(r.b[r.off+i])
}

func (r *reader) u16() int {
	s := r.take(2)
	if s == nil {
		return 0
	}
	return int(s[0])<<8 | int(s[1])
}

func (r *reader) i16() int { return int(int16(r.u16())) }

func (r *reader) u24() int64 {
	s := r.take(3)
	if s == nil {
		return 0
	}
	return int64(s[0])<<16 | int64(s[1])<<8 | int64(s[2])
}

func (r *reader) u32() int64 {
	s := r.take(4)
	if s == nil {
		return 0
	}
	return int64(s[0])<<24 | int64(s[1])<<16 | int64(s[2])<<8 | int64(s[3])
}

func (r *reader) i32() int64 { return int64(int32(uint32(r.u32()))) }

func (r *reader) u32le() int64 {
	s := r.take(4)
	if s == nil {
		return 0
	}
	return int64(s[3])<<24 | int64(s[2])<<16 | int64(s[1])<<8 | int64(s[0])
}

// i64 reads a signed 64-bit value (Java readLong).
func (r *reader) i64() int64 {
	hi := uint64(r.u32())
	lo := uint64(r.u32())
	return int64(hi<<32 | lo)
}
