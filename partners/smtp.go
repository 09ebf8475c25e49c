package partners

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/notices"
)

// SMTPConfig is the mail server rma sends notices through.
type SMTPConfig struct {
	// Addr is host:port (587, submission with STARTTLS).
	Addr string
	// Username and Password authenticate with AUTH PLAIN, only ever
	// after STARTTLS.
	Username, Password string
	// From is the sender, e.g. "Returns <returns@shop.example>".
	From string
	// Staff receives the support, supervisor and quality notices.
	Staff string
	// RootCAs verify the server's certificate (nil: the system's).
	RootCAs *x509.CertPool
	// Hostname is what rma says in EHLO (default "rma").
	Hostname string
	// Observe, when set, is told of every delivery attempt (metrics).
	Observe func(began time.Time, err error)
}

// Mailer is the notifier port over SMTP: each notice is rendered from rma's
// templates (package notices) in the customer's language and mailed, with
// STARTTLS required before any credential or message is sent.
type Mailer struct {
	cfg     SMTPConfig
	from    *mail.Address
	catalog notices.Catalog
}

// NewMailer checks cfg and loads the templates.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("smtp address %q: want host:port: %w", cfg.Addr, err)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", cfg.From, err)
	}
	if cfg.Staff != "" {
		if _, err := mail.ParseAddress(cfg.Staff); err != nil {
			return nil, fmt.Errorf("smtp staff address %q: %w", cfg.Staff, err)
		}
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "rma"
	}
	c, err := notices.Load()
	if err != nil {
		return nil, err
	}
	return &Mailer{cfg: cfg, from: from, catalog: c}, nil
}

// Notify implements activities.Notifier.
func (m *Mailer) Notify(ctx context.Context, n activities.Notification) error {
	msg, err := m.catalog.Render(n)
	if err != nil {
		return activities.Rejected("no_template", "%v", err)
	}
	to := m.cfg.Staff
	if n.To == activities.ToCustomer {
		to = n.Customer.Email
	}
	if to == "" {
		return activities.Rejected("no_email", "no email address for the %s notice %s of %s", n.To, n.Template, n.RMAID)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return activities.Rejected("bad_email", "email address of the %s notice of %s: %v", n.To, n.RMAID, err)
	}
	body := m.compose(n, msg, rcpt)
	began := time.Now()
	err = m.send(ctx, rcpt.Address, body)
	if m.cfg.Observe != nil {
		m.cfg.Observe(began, err)
	}
	return err
}

// compose writes the message: UTF-8 text, its subject encoded for any
// mail client, its language named, and a Message-ID derived from the
// notice's key so a mail system that sees it twice can tell.
func (m *Mailer) compose(n activities.Notification, msg notices.Message, rcpt *mail.Address) []byte {
	sum := sha256.Sum256([]byte(n.Key))
	domain := m.from.Address[strings.LastIndex(m.from.Address, "@")+1:]
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", m.from.String())
	h("To", rcpt.String())
	h("Subject", mime.BEncoding.Encode("UTF-8", msg.Subject))
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+domain+">")
	h("Content-Language", string(msg.Locale))
	h("X-RMA-ID", n.RMAID)
	h("X-RMA-Notice", n.Template)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(msg.Body + "\n"))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

func (m *Mailer) send(ctx context.Context, rcpt string, body []byte) error {
	host, _, _ := net.SplitHostPort(m.cfg.Addr)
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", m.cfg.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(m.cfg.Hostname); err != nil {
		return smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("smtp server %s does not offer STARTTLS; rma sends neither credentials nor customer data in clear text", m.cfg.Addr)
	}
	if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
		return smtpError("STARTTLS", err)
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, host)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(body); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", err)
	}
	// The server took the message: a failed goodbye must not send it again.
	_ = c.Quit()
	return nil
}

// smtpError maps a reply: a permanent 5xx refusal of this message's
// recipient or content is not retried (support gets a task). 4xx, network
// trouble and every refusal of the connection itself (STARTTLS, the
// login, the sender: fixed by ops, not by support) are retried, and a
// notice stuck long enough becomes a task anyway.
func smtpError(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && (step == "RCPT TO" || step == "DATA") {
		return activities.Rejected(fmt.Sprintf("smtp_%d", te.Code), "%s: %s", step, te.Msg)
	}
	return fmt.Errorf("smtp %s: %w", step, err)
}

var _ activities.Notifier = (*Mailer)(nil)
