package cabinet

import (
	"testing"
	"time"
)

func TestNormSNILS(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"112-233-445 95", "112-233-445 95", true},
		{"11223344595", "112-233-445 95", true},
		{"112-233-445 96", "", false},
		{"123-456-789 64", "123-456-789 64", true},
		{"001-001-997 00", "001-001-997 00", true}, // before control numbers
		{"1122334459", "", false},
		{"112-233-445 9a", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normSNILS(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normSNILS(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidINN(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"500100732259", true},
		{"500100732258", false},
		{"7707083893", false}, // a 10-digit company INN is not a personal one
		{"50010073225", false},
		{"5001007322 59", false},
	}
	for _, tt := range tests {
		if _, ok := validINN(tt.in); ok != tt.ok {
			t.Errorf("validINN(%q) = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

func TestNormPhonePassport(t *testing.T) {
	for in, want := range map[string]string{"+7 (912) 345-67-89": "+79123456789", "89123456789": "+79123456789", "9123456789": "+79123456789"} {
		if got, ok := normPhone(in); !ok || got != want {
			t.Errorf("normPhone(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"12345", "+1 555 123 4567", "phone"} {
		if _, ok := normPhone(in); ok {
			t.Errorf("normPhone(%q) accepted", in)
		}
	}
	if got, ok := normPassport("45 10 №123456"); !ok || got != "4510 123456" {
		t.Errorf("normPassport = %q, %v", got, ok)
	}
	if _, ok := normPassport("4510 12345"); ok {
		t.Error("short passport number accepted")
	}
}

func TestParseBirthDate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, why := parseBirthDate("1950-04-12", now, time.UTC); why != "" {
		t.Errorf("valid date refused: %s", why)
	}
	if _, why := parseBirthDate("12.04.1950", now, time.UTC); why != "" {
		t.Errorf("DD.MM.YYYY refused: %s", why)
	}
	if _, why := parseBirthDate("2026-03-02", now, time.UTC); why != "future" {
		t.Errorf("future date: %q", why)
	}
	if _, why := parseBirthDate("1850-01-01", now, time.UTC); why != "format" {
		t.Errorf("1850: %q", why)
	}
}

func TestMask(t *testing.T) {
	if got := maskSNILS("112-233-445 95"); got != "***-***-*** 95" {
		t.Error(got)
	}
	if got := maskTail("4510 123456", 3); got != "**** ***456" {
		t.Error(got)
	}
	if got := maskTail("500100732259", 2); got != "**********59" {
		t.Error(got)
	}
}
