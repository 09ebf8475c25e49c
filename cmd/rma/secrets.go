package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/webhook"
)

// partnerCreds are the credentials rma presents to each partner service,
// and that rma sim demands: RMA_<PARTNER>_AUTH = bearer:TOKEN or
// hmac:SECRET (docs/security.md).
type partnerCreds struct{ carrier, inventory, payments, notifications webhook.Credential }

func loadPartnerCreds() (partnerCreds, error) {
	var pc partnerCreds
	for _, p := range []struct {
		env string
		dst *webhook.Credential
	}{{"RMA_CARRIER_AUTH", &pc.carrier}, {"RMA_INVENTORY_AUTH", &pc.inventory}, {"RMA_PAYMENTS_AUTH", &pc.payments}, {"RMA_NOTIFICATIONS_AUTH", &pc.notifications}} {
		c, err := webhook.ParseCredential(p.env, os.Getenv(p.env))
		if err != nil {
			return pc, err
		}
		*p.dst = c
	}
	return pc, nil
}

// missing names the partners without a credential.
func (pc partnerCreds) missing() []string {
	var out []string
	for name, c := range map[string]webhook.Credential{"carrier": pc.carrier, "inventory": pc.inventory, "payments": pc.payments, "notifications": pc.notifications} {
		if !c.Set() {
			out = append(out, name)
		}
	}
	return out
}

// loadTokens reads the static tokens (RMA_TOKENS, RMA_DEV_TOKEN), refusing
// placeholder and short token values.
func loadTokens() (map[string]api.Principal, error) {
	tokens, err := api.ParseTokens(os.Getenv("RMA_TOKENS"))
	if err != nil {
		return nil, fmt.Errorf("RMA_TOKENS: %w", err)
	}
	for tok, p := range tokens {
		if err := webhook.CheckSecret("the RMA_TOKENS token of "+p.Subject, tok); err != nil {
			return nil, err
		}
	}
	if t := os.Getenv("RMA_DEV_TOKEN"); t != "" {
		if err := webhook.CheckSecret("RMA_DEV_TOKEN", t); err != nil {
			return nil, err
		}
		tokens[t] = api.Principal{Subject: "dev", Roles: api.AllRoles()}
	}
	return tokens, nil
}

// webhookSecretFromEnv is RMA_WEBHOOK_SECRET, which must be a real secret.
func webhookSecretFromEnv() ([]byte, error) {
	s := os.Getenv("RMA_WEBHOOK_SECRET")
	if err := webhook.CheckSecret("RMA_WEBHOOK_SECRET", s); err != nil {
		return nil, fmt.Errorf("%w (it authenticates carrier webhooks)", err)
	}
	return []byte(s), nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
