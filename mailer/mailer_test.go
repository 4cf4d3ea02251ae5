package mailer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"carevisit/mailer"
	"carevisit/mailer/mailtest"
)

func send(t *testing.T, cfg mailer.Config, msg mailer.Message) error {
	t.Helper()
	m, err := mailer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m.Send(context.Background(), msg)
}

var report = mailer.Message{
	To:      []string{"boss@example.org", "deputy@example.org"},
	Subject: "Отчёт о посещениях",
	Text:    "Во вложении отчёт.",
	HTML:    "<p>Во вложении отчёт.</p>",
	Attachments: []mailer.Attachment{{Name: "visits.xlsx",
		ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		Data:        bytes.Repeat([]byte{0x50, 0x4b, 0x03, 0x04, 0xff, 0x00}, 50000)}},
}

func checkDelivered(t *testing.T, srv *mailtest.Server) {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	if got := strings.Join(msgs[0].To, ","); got != "boss@example.org,deputy@example.org" {
		t.Errorf("recipients %s", got)
	}
	p, err := msgs[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != report.Subject || strings.TrimSpace(p.Text()) != report.Text {
		t.Errorf("subject %q, text %q", p.Subject, p.Text())
	}
	att := p.Attachments()
	if len(att) != 1 || att[0].FileName != "visits.xlsx" || !bytes.Equal(att[0].Data, report.Attachments[0].Data) ||
		att[0].ContentType != report.Attachments[0].ContentType {
		t.Errorf("attachment not delivered intact: %d attachments", len(att))
	}
}

func TestSendPlain(t *testing.T) {
	srv := mailtest.Start(t)
	if err := send(t, srv.Config(), report); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv)
}

func TestSendSTARTTLSWithAuth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth("reports", "s3cret"))
	if err := send(t, srv.Config(), report); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv)

	bad := srv.Config()
	bad.Password = "wrong"
	if err := send(t, bad, report); err == nil {
		t.Error("wrong password: sent anyway")
	}
	untrusted := srv.Config()
	untrusted.TLSConfig = nil // system roots do not know the test certificate
	if err := send(t, untrusted, report); err == nil {
		t.Error("untrusted certificate: sent anyway")
	}
}

func TestSendFailures(t *testing.T) {
	srv := mailtest.Start(t)
	srv.FailNext(1, 451)
	if err := send(t, srv.Config(), report); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("451 from the server: err %v", err)
	}
	srv.Stop()
	if err := send(t, srv.Config(), report); err == nil {
		t.Error("server down: no error")
	}
	srv.Restart()
	if err := send(t, srv.Config(), report); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	checkDelivered(t, srv)
}

func TestValidate(t *testing.T) {
	ok := mailer.Config{Host: "smtp.example.org", From: "r@example.org"}
	for name, tc := range map[string]struct {
		mod  func(*mailer.Config)
		fail bool
	}{
		"ok":                      {func(c *mailer.Config) {}, false},
		"no host":                 {func(c *mailer.Config) { c.Host = "" }, true},
		"no from":                 {func(c *mailer.Config) { c.From = "" }, true},
		"bad tls mode":            {func(c *mailer.Config) { c.TLS = "ssl" }, true},
		"password in clear":       {func(c *mailer.Config) { c.TLS, c.User = mailer.NoTLS, "u" }, true},
		"clear relay on loopback": {func(c *mailer.Config) { c.TLS, c.Host = mailer.NoTLS, "localhost" }, false},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); (err != nil) != tc.fail {
			t.Errorf("%s: err %v, want failure %v", name, err, tc.fail)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("CAREVISIT_SMTP_HOST", "mail.example.org")
	t.Setenv("CAREVISIT_SMTP_PORT", "2525")
	t.Setenv("CAREVISIT_SMTP_TLS", "tls")
	t.Setenv("CAREVISIT_SMTP_USER", "u")
	t.Setenv("CAREVISIT_SMTP_PASSWORD", "p")
	t.Setenv("CAREVISIT_SMTP_FROM", "r@example.org")
	c := mailer.ConfigFromEnv()
	if c.Host != "mail.example.org" || c.Port != 2525 || c.TLS != "tls" || c.User != "u" || c.Password != "p" || c.From != "r@example.org" {
		t.Errorf("config %+v", c)
	}
}
