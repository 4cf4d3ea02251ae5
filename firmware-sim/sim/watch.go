package sim

import (
	"bytes"

	"carevisit/protocol"
	"carevisit/protocol/watch"
)

// Watch ack keys: LK and AL replies carry no serial; they are matched to
// the oldest frame of their kind waiting.
const (
	watchLK uint32 = 1
	watchAL uint32 = 2
)

// watchWire: LK on connect and as the keep-alive (acknowledged), UD
// positions (not acknowledged), AL alarms (acknowledged).
type watchWire struct {
	maker, id string
}

func newWatchWire(maker, id string) *watchWire { return &watchWire{maker: maker, id: id} }

func (w *watchWire) hello(dst []byte) ([]byte, uint32) {
	return watch.AppendLK(dst, w.maker, w.id, 0, 100), noAck
}

// data sends the fix with its accuracy, as watches do. The protocol has no
// late-upload flag: buffered fixes go out as plain UD.
func (w *watchWire) data(dst []byte, m *protocol.Message) ([]byte, uint32) {
	m.Has |= protocol.HasAccuracy
	if m.Alarm != "" {
		return watch.AppendAL(dst, w.maker, w.id, *m), watchAL
	}
	return watch.AppendUD(dst, w.maker, w.id, *m), noAck
}

func (w *watchWire) keepAlive(dst []byte, battery, steps int) ([]byte, uint32) {
	return watch.AppendLK(dst, w.maker, w.id, steps, battery), watchLK
}

// acks reads `[XX*id*len*CONTENT]` replies.
func (w *watchWire) acks(buf []byte, keys []uint32) (int, []uint32) {
	i := 0
	for {
		s := bytes.IndexByte(buf[i:], '[')
		if s < 0 {
			return len(buf), keys
		}
		e := bytes.IndexByte(buf[i+s:], ']')
		if e < 0 {
			return i + s, keys
		}
		f := buf[i+s+1 : i+s+e]
		if p := bytes.SplitN(f, []byte("*"), 4); len(p) == 4 {
			switch {
			case bytes.HasPrefix(p[3], []byte("LK")):
				keys = append(keys, watchLK)
			case bytes.HasPrefix(p[3], []byte("AL")):
				keys = append(keys, watchAL)
			}
		}
		i += s + e + 1
	}
}
