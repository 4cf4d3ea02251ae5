package ingest_test

import (
	"testing"

	"carevisit/protocol"
	"carevisit/protocol/watch"
)

var watchCodec = func() protocol.Codec { return watch.New() }

func TestWatch(t *testing.T) {
	h := start(t, nil)
	c := h.dial("watch")
	send(t, c, watch.AppendLK(nil, "SG", wID, 100, 90))
	if got := readUntil(t, c, ']'); got != "[SG*"+wID+"*0002*LK]" {
		t.Errorf("LK reply %q", got)
	}
	send(t, c, watch.AppendUD(nil, "SG", wID, fix(1)))
	h.waitRows(wID, 1)
}
