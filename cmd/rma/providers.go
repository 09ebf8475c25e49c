package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/metrics"
	"github.com/rma-dev/rma/partners"
	"github.com/rma-dev/rma/webhook"
)

// providers choose the adapters of the payments and notifications ports:
// the partner services of docs/partners.md (what rma sim serves), or
// Stripe and SMTP.
type providers struct {
	payments, notifications string
	paymentsURL, notifyURL  string
	stripeURL               string
	smtpAddr, smtpFrom      string
	smtpUser, smtpStaff     string
	smtpCA                  string
}

func (p *providers) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&p.payments, "payments", envOr("RMA_PAYMENTS", "service"), "payments adapter: service (the payments service at --payments-url; rma sim serves one) or stripe (secret key in RMA_STRIPE_SECRET_KEY); env RMA_PAYMENTS")
	f.StringVar(&p.stripeURL, "stripe-url", envOr("RMA_STRIPE_URL", partners.StripeAPI), "Stripe API address (env RMA_STRIPE_URL; stripe-mock's for tests)")
	f.StringVar(&p.notifications, "notifications", envOr("RMA_NOTIFICATIONS", "service"), "notifications adapter: service (the notifications service at --notifications-url) or smtp (email; RMA_SMTP_*); env RMA_NOTIFICATIONS")
	f.StringVar(&p.smtpAddr, "smtp-addr", os.Getenv("RMA_SMTP_ADDR"), "SMTP submission server host:port, STARTTLS required (env RMA_SMTP_ADDR)")
	f.StringVar(&p.smtpFrom, "smtp-from", os.Getenv("RMA_SMTP_FROM"), `sender of customer email, e.g. "Returns <returns@shop.example>" (env RMA_SMTP_FROM)`)
	f.StringVar(&p.smtpUser, "smtp-user", os.Getenv("RMA_SMTP_USER"), "SMTP login (env RMA_SMTP_USER; the password is RMA_SMTP_PASSWORD)")
	f.StringVar(&p.smtpStaff, "smtp-staff", os.Getenv("RMA_SMTP_STAFF"), "address of support's, supervisors' and quality's notices (env RMA_SMTP_STAFF)")
	f.StringVar(&p.smtpCA, "smtp-ca-file", os.Getenv("RMA_SMTP_CA_FILE"), "CA bundle for the SMTP server's certificate (env RMA_SMTP_CA_FILE; default: the system's)")
}

func (p *providers) paymentsPort(auth webhook.Credential, policy domain.Policy, m *metrics.Set) (activities.Payments, error) {
	switch p.payments {
	case "service", "":
		return partners.NewPayments(p.paymentsURL, auth, partners.WithTransport(m.Partner("payments", nil))), nil
	case "stripe":
		key := os.Getenv("RMA_STRIPE_SECRET_KEY")
		if err := webhook.CheckSecret("RMA_STRIPE_SECRET_KEY", key); err != nil {
			return nil, fmt.Errorf("--payments stripe: %w", err)
		}
		// Stripe releases an uncaptured card authorisation after 7 days:
		// a longer advance-exchange hold would lapse before its capture,
		// and the customer would keep the replacement unpaid.
		if w := policy.Exchange.AdvanceHoldWindow.D(); policy.Exchange.AdvanceForVIP && w > partners.StripeMaxHold {
			return nil, fmt.Errorf("--payments stripe: the policy's exchange.advance_hold_window is %s, but Stripe releases an uncaptured authorisation after %s; set it to 144h (6 days) or less in the policy file (rma policy show prints it)", w, partners.StripeMaxHold)
		}
		return partners.NewStripe(p.stripeURL, key, partners.WithTransport(m.Partner("stripe", nil))), nil
	}
	return nil, fmt.Errorf("--payments %q: use service or stripe", p.payments)
}

func (p *providers) notifier(auth webhook.Credential, m *metrics.Set) (activities.Notifier, error) {
	switch p.notifications {
	case "service", "":
		return partners.NewNotifier(p.notifyURL, auth, partners.WithTransport(m.Partner("notifications", nil))), nil
	case "smtp":
		if p.smtpAddr == "" || p.smtpFrom == "" {
			return nil, errors.New("--notifications smtp needs --smtp-addr and --smtp-from (RMA_SMTP_ADDR, RMA_SMTP_FROM)")
		}
		cfg := partners.SMTPConfig{Addr: p.smtpAddr, From: p.smtpFrom, Username: p.smtpUser, Password: os.Getenv("RMA_SMTP_PASSWORD"), Staff: p.smtpStaff,
			Observe: func(began time.Time, err error) { m.ObservePartner("smtp", "SEND", began, err) }}
		if p.smtpCA != "" {
			pem, err := os.ReadFile(p.smtpCA)
			if err != nil {
				return nil, fmt.Errorf("smtp CA: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificates in %s", p.smtpCA)
			}
		}
		return partners.NewMailer(cfg)
	}
	return nil, fmt.Errorf("--notifications %q: use service or smtp", p.notifications)
}
