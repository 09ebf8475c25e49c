package partners_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/partners"
)

// mailbox is an SMTP server (github.com/emersion/go-smtp) on loopback that
// offers STARTTLS, accepts AUTH PLAIN only over TLS with one login, and
// keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
	// reject550 refuses this recipient for good.
	reject550 string
}

type received struct {
	from, to string
	tls      bool
	user     string
	raw      []byte
}

type session struct {
	mb   *mailbox
	conn *smtp.Conn
	user string
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "rma-mailer" || pass != "s3cret-smtp-pass" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.cur = received{from: from, user: s.user}
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.mb.reject550 {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.cur.to = to
	return nil
}
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.raw = raw
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.cur)
	s.mb.mu.Unlock()
	return nil
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
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
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func startMailbox(t *testing.T, withTLS bool) (*mailbox, string, *x509.CertPool) {
	t.Helper()
	mb := &mailbox{reject550: "gone@example.com"}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{mb: mb, conn: c}, nil }))
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	cert, pool := selfSigned(t)
	if withTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	srv.AllowInsecureAuth = false
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb, l.Addr().String(), pool
}

// TestMailerOverSMTP sends customer notices through a real SMTP exchange:
// STARTTLS, then AUTH PLAIN, then the message, rendered from rma's own
// templates in the customer's language.
func TestMailerOverSMTP(t *testing.T) {
	mb, addr, pool := startMailbox(t, true)
	m, err := partners.NewMailer(partners.SMTPConfig{Addr: addr, Username: "rma-mailer", Password: "s3cret-smtp-pass",
		From: "Returns <returns@shop.example>", Staff: "support@shop.example", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	zh := activities.Notification{Key: "RMA-M1/refunded", RMAID: "RMA-M1", To: activities.ToCustomer, Template: "refunded", Locale: domain.LocaleZhCN,
		Customer: domain.Customer{ID: "C-1", Email: "li.wei@example.cn"}, Params: map[string]string{"amount": "¥199.00", "fees": "¥0.00"}}
	en := zh
	en.Key, en.RMAID, en.Locale, en.Customer.Email = "RMA-M2/refunded", "RMA-M2", domain.LocaleEN, "ann@example.com"
	staff := activities.Notification{Key: "RMA-M1/needs_attention", RMAID: "RMA-M1", To: activities.ToSupport, Template: "needs_attention", Params: map[string]string{"step": "refund"}}
	for _, n := range []activities.Notification{zh, en, staff} {
		if err := m.Notify(ctx, n); err != nil {
			t.Fatalf("%s: %v", n.Key, err)
		}
	}
	mb.mu.Lock()
	msgs := append([]received(nil), mb.msgs...)
	mb.mu.Unlock()
	if len(msgs) != 3 {
		t.Fatalf("%d messages arrived", len(msgs))
	}
	want := []struct{ to, subject, body, lang string }{
		{"li.wei@example.cn", "退货 RMA-M1 已退款", "已退款 ¥199.00（扣除费用 ¥0.00）。", "zh-CN"},
		{"ann@example.com", "Refund for return RMA-M2", "Refunded ¥199.00 (fees ¥0.00).", "en"},
		{"support@shop.example", "[RMA-M1] needs_attention", "[RMA-M1] needs_attention step=refund", "zh-CN"},
	}
	dec := new(mime.WordDecoder)
	for i, w := range want {
		got := msgs[i]
		if !got.tls || got.user != "rma-mailer" || got.from != "returns@shop.example" || got.to != w.to {
			t.Fatalf("message %d: tls %v user %q from %q to %q", i, got.tls, got.user, got.from, got.to)
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(got.raw)))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || subject != w.subject {
			t.Errorf("message %d subject %q (%v), want %q", i, subject, err, w.subject)
		}
		if lang := msg.Header.Get("Content-Language"); lang != w.lang {
			t.Errorf("message %d language %q, want %q", i, lang, w.lang)
		}
		body := decodeBase64Body(t, msg)
		if strings.TrimSpace(body) != w.body {
			t.Errorf("message %d body %q, want %q", i, body, w.body)
		}
		if msg.Header.Get("Message-ID") == "" || msg.Header.Get("X-RMA-ID") == "" {
			t.Errorf("message %d headers: %v", i, msg.Header)
		}
	}

	// A mailbox that does not exist is refused for good: support gets a
	// task. A customer without an address is refused before any SMTP.
	gone := zh
	gone.Key, gone.Customer.Email = "RMA-M3/refunded", "gone@example.com"
	var rej *activities.RejectedError
	if err := m.Notify(ctx, gone); !errors.As(err, &rej) || rej.Code != "smtp_550" {
		t.Fatalf("550: %v", err)
	}
	none := zh
	none.Customer.Email = ""
	if err := m.Notify(ctx, none); !errors.As(err, &rej) || rej.Code != "no_email" {
		t.Fatalf("no address: %v", err)
	}
	// A wrong password is retried (ops fix the login; nothing is lost).
	bad, _ := partners.NewMailer(partners.SMTPConfig{Addr: addr, Username: "rma-mailer", Password: "wrong", From: "returns@shop.example", RootCAs: pool})
	if err := bad.Notify(ctx, zh); err == nil || errors.As(err, &rej) {
		t.Fatalf("bad login: %v", err)
	}
}

// TestMailerRefusesWithoutSTARTTLS: a server without STARTTLS never sees
// the password or the customer's data.
func TestMailerRefusesWithoutSTARTTLS(t *testing.T) {
	mb, addr, _ := startMailbox(t, false)
	m, err := partners.NewMailer(partners.SMTPConfig{Addr: addr, Username: "rma-mailer", Password: "s3cret-smtp-pass", From: "returns@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Notify(context.Background(), activities.Notification{Key: "k", RMAID: "RMA-1", To: activities.ToCustomer, Template: "cancelled",
		Customer: domain.Customer{Email: "a@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("sent without STARTTLS: %v", err)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if len(mb.msgs) != 0 {
		t.Fatal("a message arrived in clear text")
	}
}

func decodeBase64Body(t *testing.T, msg *mail.Message) string {
	t.Helper()
	raw, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "base64" {
		return string(raw)
	}
	b, err := decodeB64(strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r", ""), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeB64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
