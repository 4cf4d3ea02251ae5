// Package mailtest runs a real SMTP server (emersion/go-smtp) on loopback
// for tests: it records what it receives, can refuse messages with a given
// reply code, go down and come back on the same port, speak STARTTLS and
// require a password. Parse decodes a received message's MIME parts.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"carevisit/mailer"
)

// Received is one accepted message.
type Received struct {
	From string
	To   []string
	Data []byte
}

// Server is a test SMTP server.
type Server struct {
	t        testing.TB
	Addr     string // 127.0.0.1:port, stable across Stop/Start
	Port     int
	tlsConf  *tls.Config
	roots    *x509.CertPool
	user     string
	password string

	mu       sync.Mutex
	srv      *smtp.Server
	msgs     []Received
	failNext int
	failCode int
	attempts int
}

// Option configures a Server.
type Option func(*Server)

// WithSTARTTLS makes the server offer STARTTLS with a fresh self-signed
// certificate for 127.0.0.1; Config() trusts it.
func WithSTARTTLS() Option { return func(s *Server) { s.tlsConf, s.roots = selfSigned(s.t) } }

// WithAuth makes the server require PLAIN authentication.
func WithAuth(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 50 << 20
	srv.TLSConfig = s.tlsConf
	srv.ErrorLog = discardLogger{}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

// Stop takes the server down: connections are refused until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Restart brings a stopped server back on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

// FailNext makes the next n messages fail at DATA with the reply code
// (451: try again later; 554: refused).
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, code
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Attempts counts DATA commands, accepted or refused.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Config is a mailer configuration for this server.
func (s *Server) Config() mailer.Config {
	c := mailer.Config{Host: "127.0.0.1", Port: s.Port, TLS: mailer.NoTLS, From: "carevisit <reports@carevisit.test>",
		Timeout: 5 * time.Second, User: s.user, Password: s.password}
	if s.tlsConf != nil {
		c.TLS = mailer.StartTLS
		c.TLSConfig = &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	return c
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, tls: b.s.tlsConf != nil}, nil
}

type session struct {
	s      *Server
	tls    bool
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != ss.s.user || password != ss.s.password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failNext > 0 {
		s.failNext--
		return &smtp.SMTPError{Code: s.failCode, EnhancedCode: smtp.EnhancedCode{s.failCode / 100, 0, 0},
			Message: "mailtest: refused on purpose (" + strconv.Itoa(s.failCode) + ")"}
	}
	s.msgs = append(s.msgs, Received{From: ss.from, To: append([]string(nil), ss.to...), Data: data})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}
