// Package notices renders rma's notices from rma's own templates: a
// subject and a body per template, in zh-CN and en (templates/*.yaml,
// embedded). Every notifier renders here, the SMTP mailer and the
// simulator alike, so a customer reads the same words whichever channel
// carries them. Staff notices (support, supervisor, quality) are not
// customer copy: they list their parameters.
package notices

import (
	"embed"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

//go:embed templates/*.yaml
var files embed.FS

// Template is one notice in one locale.
type Template struct {
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
}

// Catalog is every template by locale, then name.
type Catalog map[domain.Locale]map[string]Template

// Locales are the languages rma writes in; the first is the default.
var locales = []domain.Locale{domain.LocaleZhCN, domain.LocaleEN}

// Load reads the embedded templates.
func Load() (Catalog, error) {
	c := Catalog{}
	for _, l := range locales {
		raw, err := files.ReadFile("templates/" + string(l) + ".yaml")
		if err != nil {
			return nil, fmt.Errorf("templates for %s: %w", l, err)
		}
		m := map[string]Template{}
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("templates for %s: %w", l, err)
		}
		c[l] = m
	}
	return c, nil
}

// MustLoad is Load for the embedded files, which a test checks.
func MustLoad() Catalog {
	c, err := Load()
	if err != nil {
		panic(err)
	}
	return c
}

// Names are the customer templates of a locale, sorted.
func (c Catalog) Names(l domain.Locale) []string {
	out := make([]string, 0, len(c[l]))
	for n := range c[l] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Message is a rendered notice.
type Message struct {
	Locale  domain.Locale
	Subject string
	Body    string
	// Missing are placeholders no parameter filled; they stay in the text
	// as {name} so the message still goes out.
	Missing []string
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// LocaleOf is the locale rma writes n in: the customer's when rma has it,
// else the default (zh-CN).
func LocaleOf(n activities.Notification) domain.Locale {
	for _, l := range locales {
		if n.Locale == l {
			return l
		}
	}
	return locales[0]
}

// Render fills n's template in its locale. A customer notice without a
// template is an error (a message must not go out as a parameter dump);
// staff notices list their parameters.
func (c Catalog) Render(n activities.Notification) (Message, error) {
	l := LocaleOf(n)
	if n.To != activities.ToCustomer {
		keys := make([]string, 0, len(n.Params))
		for k := range n.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		lines := []string{"[" + n.RMAID + "] " + n.Template}
		for _, k := range keys {
			lines = append(lines, k+"="+n.Params[k])
		}
		return Message{Locale: l, Subject: "[" + n.RMAID + "] " + n.Template, Body: strings.Join(lines, " ")}, nil
	}
	t, ok := c[l][n.Template]
	if !ok {
		return Message{}, fmt.Errorf("no %s template %q", l, n.Template)
	}
	params := map[string]string{"rma_id": n.RMAID}
	for k, v := range n.Params {
		params[k] = v
	}
	m := Message{Locale: l}
	fill := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(p string) string {
			name := p[1 : len(p)-1]
			if v, ok := params[name]; ok {
				return v
			}
			m.Missing = append(m.Missing, name)
			return p
		})
	}
	m.Subject, m.Body = fill(t.Subject), fill(t.Body)
	return m, nil
}
