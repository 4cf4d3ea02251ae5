package cabinet

import (
	"strings"
	"time"
	"unicode"
)

// digits keeps the digits of s.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// normSNILS checks a SNILS (11 digits, any separators) with its control
// number and returns it as "123-456-789 01"; ok is false if it is wrong.
func normSNILS(s string) (string, bool) {
	d := digits(s)
	if len(d) != 11 || strings.Trim(s, "0123456789- \u00a0") != "" {
		return "", false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(d[i]-'0') * (9 - i)
	}
	var check int
	switch {
	case sum < 100:
		check = sum
	case sum == 100 || sum == 101:
		check = 0
	default:
		check = sum % 101
		if check == 100 {
			check = 0
		}
	}
	// Numbers up to 001-001-998 were issued before the control number.
	if d[:9] > "001001998" && check != int(d[9]-'0')*10+int(d[10]-'0') {
		return "", false
	}
	return d[0:3] + "-" + d[3:6] + "-" + d[6:9] + " " + d[9:11], true
}

// validINN checks a 12-digit personal INN with its two control digits.
func validINN(s string) (string, bool) {
	d := digits(s)
	if len(d) != 12 || strings.TrimSpace(s) != d {
		return "", false
	}
	ctl := func(w []int) int {
		sum := 0
		for i, k := range w {
			sum += k * int(d[i]-'0')
		}
		return sum % 11 % 10
	}
	if ctl([]int{7, 2, 4, 10, 3, 5, 9, 4, 6, 8}) != int(d[10]-'0') || ctl([]int{3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8}) != int(d[11]-'0') {
		return "", false
	}
	return d, true
}

// normPassport checks a Russian passport's series and number (4 + 6
// digits) and returns "4510 123456".
func normPassport(s string) (string, bool) {
	d := digits(s)
	if len(d) != 10 || strings.Trim(s, "0123456789 №-\u00a0") != "" {
		return "", false
	}
	return d[:4] + " " + d[4:], true
}

// normPhone returns a Russian phone number as +7XXXXXXXXXX.
func normPhone(s string) (string, bool) {
	if strings.IndexFunc(s, unicode.IsLetter) >= 0 {
		return "", false
	}
	d := digits(s)
	switch {
	case len(d) == 11 && (d[0] == '7' || d[0] == '8'):
		return "+7" + d[1:], true
	case len(d) == 10 && d[0] == '9':
		return "+7" + d, true
	}
	return "", false
}

// parseBirthDate reads YYYY-MM-DD (or DD.MM.YYYY); a date in the future or
// before 1900 is refused (reason "future" or "format").
func parseBirthDate(s string, now time.Time, loc *time.Location) (time.Time, string) {
	s = strings.TrimSpace(s)
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		t, err = time.ParseInLocation("02.01.2006", s, loc)
	}
	if err != nil || t.Year() < 1900 {
		return time.Time{}, "format"
	}
	if t.After(now.In(loc)) {
		return time.Time{}, "future"
	}
	return t, ""
}

func maskSNILS(s string) string {
	if len(s) < 2 {
		return ""
	}
	return "***-***-*** " + s[len(s)-2:]
}

func maskTail(s string, keep int) string {
	r := []rune(s)
	if len(r) <= keep {
		return strings.Repeat("*", len(r))
	}
	var b strings.Builder
	for i, c := range r {
		if i < len(r)-keep && c != ' ' {
			b.WriteRune('*')
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}
