package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The connection resolves as Temporal's envconfig does: the config file's
// profile, the TEMPORAL_* variables over it, the flags over both.
func TestTemporalConnectionResolution(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(file, []byte(`
[profile.default]
address = "default.example:7233"

[profile.prod]
address = "prod.tmprl.cloud:7233"
namespace = "returns.acct"
api_key = "file-api-key"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range temporalEnv() {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	resolve := func(f temporalFlags) temporalFlags {
		t.Helper()
		opts, err := f.resolve()
		if err != nil {
			t.Fatal(err)
		}
		if opts.HostPort != f.address || opts.Namespace != f.namespace {
			t.Fatalf("options %s/%s, recorded %s/%s", opts.HostPort, opts.Namespace, f.address, f.namespace)
		}
		return f
	}

	// No file, no env: the local defaults.
	if f := resolve(temporalFlags{configFile: filepath.Join(dir, "missing.toml")}); f.address != "127.0.0.1:7233" || f.namespace != "default" {
		t.Fatalf("defaults: %s %s", f.address, f.namespace)
	}
	// A profile of the file, chosen by TEMPORAL_PROFILE; an API key turns
	// TLS on.
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_PROFILE", "prod")
	f := temporalFlags{}
	opts, err := f.resolve()
	if err != nil || f.address != "prod.tmprl.cloud:7233" || f.namespace != "returns.acct" || opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatalf("profile: %s %s creds %v tls %v (%v)", f.address, f.namespace, opts.Credentials, opts.ConnectionOptions.TLS, err)
	}
	// The environment over the file, the flags over both.
	t.Setenv("TEMPORAL_NAMESPACE", "from-env")
	if f := resolve(temporalFlags{}); f.namespace != "from-env" || f.address != "prod.tmprl.cloud:7233" {
		t.Fatalf("env over file: %s %s", f.address, f.namespace)
	}
	if f := resolve(temporalFlags{namespace: "from-flag", address: "10.0.0.1:7233"}); f.namespace != "from-flag" || f.address != "10.0.0.1:7233" {
		t.Fatalf("flags over env: %s %s", f.address, f.namespace)
	}
	// --profile picks another profile; an unknown one is an error.
	if f := resolve(temporalFlags{profile: "default"}); f.address != "default.example:7233" || f.namespace != "from-env" {
		t.Fatalf("--profile default: %s %s", f.address, f.namespace)
	}
	if _, err := (&temporalFlags{profile: "nope"}).resolve(); err == nil {
		t.Fatal("unknown profile accepted")
	}
	// mTLS: the older TEMPORAL_TLS_CERT with envconfig's key variable, each
	// field on its own; the files must exist, so the error names them.
	t.Setenv("TEMPORAL_TLS_CERT", filepath.Join(dir, "legacy-cert.pem"))
	t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", filepath.Join(dir, "key.pem"))
	_, err = (&temporalFlags{}).resolve()
	if err == nil || !strings.Contains(err.Error(), "legacy-cert.pem") {
		t.Fatalf("cert from TEMPORAL_TLS_CERT, key from TEMPORAL_TLS_CLIENT_KEY_PATH: %v", err)
	}
	// A flag outranks both names.
	_, err = (&temporalFlags{tlsCert: filepath.Join(dir, "flag-cert.pem")}).resolve()
	if err == nil || !strings.Contains(err.Error(), "flag-cert.pem") {
		t.Fatalf("--tls-cert-path: %v", err)
	}
}
