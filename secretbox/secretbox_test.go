package secretbox

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func testBox(t *testing.T) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := testBox(t)
	s := b.SealString("112-233-445 95", "snils")
	if bytes.Contains(s, []byte("112")) || bytes.Contains(s, []byte("445")) {
		t.Fatal("the sealed value shows the digits")
	}
	if bytes.Equal(s, b.SealString("112-233-445 95", "snils")) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := b.OpenString(s, "snils")
	if err != nil || got != "112-233-445 95" {
		t.Fatalf("open = %q, %v", got, err)
	}
	tests := []struct {
		name    string
		sealed  []byte
		context string
	}{
		{"other context", s, "inn"},
		{"tampered", append(append([]byte{}, s[:len(s)-1]...), s[len(s)-1]^1), "snils"},
		{"truncated", s[:10], "snils"},
		{"other version", append([]byte{9}, s[1:]...), "snils"},
	}
	for _, tt := range tests {
		if _, err := b.Open(tt.sealed, tt.context); err != ErrOpen {
			t.Errorf("%s: err = %v, want ErrOpen", tt.name, err)
		}
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(s, "snils"); err != ErrOpen {
		t.Error("another key opened the value")
	}
	if b.Seal(nil, "x") != nil {
		t.Error("empty plaintext should seal to nil")
	}
}

func TestIndex(t *testing.T) {
	b := testBox(t)
	if !bytes.Equal(b.Index("11223344595", "snils"), b.Index("11223344595", "snils")) {
		t.Error("index is not deterministic")
	}
	if bytes.Equal(b.Index("11223344595", "snils"), b.Index("11223344595", "inn")) {
		t.Error("index ignores the context")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if bytes.Equal(b.Index("1", "snils"), other.Index("1", "snils")) {
		t.Error("index does not depend on the key")
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for _, s := range []string{strings.Repeat("ab", KeySize), base64.StdEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw), " " + strings.Repeat("AB", KeySize) + "\n"} {
		k, err := ParseKey(s)
		if err != nil || !bytes.Equal(k, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", strings.Repeat("ab", 16)} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
	if _, err := New(make([]byte, 16)); err != ErrKey {
		t.Error("a 16-byte key was accepted")
	}
}
