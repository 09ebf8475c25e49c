package domain

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Legal presets: a policy built on a jurisdiction's consumer law, each rule
// citing its source in the preset's file (presets/*.yaml). A policy file
// selects one with `preset: NAME` and overrides any key.
//
//go:embed presets/*.yaml
var presetFiles embed.FS

// Presets are the names of the legal presets.
func Presets() []string {
	entries, _ := presetFiles.ReadDir("presets")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// PresetSource is a preset's file, with its citations.
func PresetSource(name string) ([]byte, error) {
	if !contains(Presets(), name) {
		return nil, fmt.Errorf("preset %q: no such preset (%s)", name, strings.Join(Presets(), ", "))
	}
	return presetFiles.ReadFile("presets/" + name + ".yaml")
}

// Preset is the policy a preset resolves to: the seeds' defaults with the
// preset's keys over them. "" is the defaults.
func Preset(name string) (Policy, error) {
	p := Defaults()
	if name == "" {
		return p, nil
	}
	src, err := PresetSource(name)
	if err != nil {
		return Policy{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("preset %s: %w", name, err)
	}
	p.Preset = name
	return p, nil
}
