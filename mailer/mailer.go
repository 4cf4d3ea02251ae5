// Package mailer sends e-mail over SMTP: scheduled reports, password
// resets. One Mailer per process; Send is safe for concurrent use and opens
// one SMTP connection per message (report mails are rare and large).
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLS modes.
const (
	StartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587); required, never skipped
	TLS      = "tls"      // TLS from the first byte (port 465)
	NoTLS    = "none"     // clear text (port 25): a relay on localhost or a test server only
)

// Config is the SMTP connection. The zero Port means the mode's usual one.
type Config struct {
	Host     string
	Port     int
	TLS      string // StartTLS (default), TLS or NoTLS
	User     string // empty = no authentication
	Password string
	From     string // "carevisit <noreply@example.org>"
	Timeout  time.Duration
	// TLSConfig overrides the TLS settings (a private CA); nil = system roots
	// with the server name checked.
	TLSConfig *tls.Config
}

// ConfigFromEnv reads CAREVISIT_SMTP_HOST, _PORT, _TLS, _USER, _PASSWORD and
// _FROM.
func ConfigFromEnv() Config {
	port, _ := strconv.Atoi(os.Getenv("CAREVISIT_SMTP_PORT"))
	return Config{
		Host:     os.Getenv("CAREVISIT_SMTP_HOST"),
		Port:     port,
		TLS:      os.Getenv("CAREVISIT_SMTP_TLS"),
		User:     os.Getenv("CAREVISIT_SMTP_USER"),
		Password: os.Getenv("CAREVISIT_SMTP_PASSWORD"),
		From:     os.Getenv("CAREVISIT_SMTP_FROM"),
	}
}

// RegisterFlags adds -smtp-host, -smtp-port, -smtp-tls, -smtp-user and
// -smtp-from to fs, defaulting to c (usually ConfigFromEnv()). The password
// has no flag: command lines are visible to every user of the machine.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "smtp-host", c.Host, "SMTP server for report e-mails (env CAREVISIT_SMTP_HOST; empty = no e-mail)")
	fs.IntVar(&c.Port, "smtp-port", c.Port, "SMTP port (env CAREVISIT_SMTP_PORT; 0 = 587, 465 or 25 by -smtp-tls)")
	fs.StringVar(&c.TLS, "smtp-tls", c.TLS, "SMTP TLS: starttls, tls or none (env CAREVISIT_SMTP_TLS; default starttls)")
	fs.StringVar(&c.User, "smtp-user", c.User, "SMTP user (env CAREVISIT_SMTP_USER; password in CAREVISIT_SMTP_PASSWORD)")
	fs.StringVar(&c.From, "smtp-from", c.From, "sender address (env CAREVISIT_SMTP_FROM)")
}

// Enabled reports whether a server is configured.
func (c Config) Enabled() bool { return c.Host != "" }

// Validate checks the configuration without connecting.
func (c Config) Validate() error {
	if c.Host == "" {
		return errors.New("mailer: CAREVISIT_SMTP_HOST is not set")
	}
	switch c.TLS {
	case "", StartTLS, TLS, NoTLS:
	default:
		return fmt.Errorf("mailer: CAREVISIT_SMTP_TLS=%q: want starttls, tls or none", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("mailer: CAREVISIT_SMTP_PORT=%d out of range", c.Port)
	}
	if c.From == "" {
		return errors.New("mailer: CAREVISIT_SMTP_FROM is not set")
	}
	if c.User != "" && c.TLS == NoTLS && c.Host != "localhost" && c.Host != "127.0.0.1" {
		return errors.New("mailer: refusing to send a password without TLS (set CAREVISIT_SMTP_TLS to starttls or tls)")
	}
	return nil
}

// Attachment is a file attached to a message.
type Attachment struct {
	Name        string // file name shown to the recipient
	ContentType string // e.g. application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
	Data        []byte
}

// Message is one e-mail. Text is required; HTML, if set, is the
// alternative part.
type Message struct {
	To          []string
	Subject     string
	Text        string
	HTML        string
	Attachments []Attachment
}

// Mailer sends messages through the configured server.
type Mailer struct {
	cfg Config
}

// New checks cfg and returns a Mailer. It does not connect.
func New(cfg Config) (*Mailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = StartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{StartTLS: 587, TLS: 465, NoTLS: 25}[cfg.TLS]
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Mailer{cfg: cfg}, nil
}

// Send delivers msg to the server (one connection per call). The error
// says whether it was the connection or the server's answer; callers retry.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if len(msg.To) == 0 {
		return errors.New("mailer: no recipients")
	}
	mm := mail.NewMsg()
	if err := mm.From(m.cfg.From); err != nil {
		return fmt.Errorf("mailer: from %q: %w", m.cfg.From, err)
	}
	if err := mm.To(msg.To...); err != nil {
		return fmt.Errorf("mailer: to %s: %w", strings.Join(msg.To, ", "), err)
	}
	mm.Subject(msg.Subject)
	mm.SetDate()
	mm.SetMessageID()
	mm.SetBodyString(mail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		mm.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	}
	for _, a := range msg.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		if err := mm.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(ct))); err != nil {
			return fmt.Errorf("mailer: attach %s: %w", a.Name, err)
		}
	}
	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case TLS:
		opts = append(opts, mail.WithSSL())
	case NoTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(m.cfg.TLSConfig))
	}
	if m.cfg.User != "" {
		// Auto-discovery picks the strongest mechanism the server offers and
		// never PLAIN/LOGIN over a clear-text connection.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(m.cfg.User), mail.WithPassword(m.cfg.Password))
	}
	c, err := mail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, mm); err != nil {
		return fmt.Errorf("mailer: %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}
