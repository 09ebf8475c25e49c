// Package deploy holds the container image, compose file and Kubernetes
// manifests. No Docker engine runs here, so this test checks them statically
// against the real binary, built as the image builds it (-tags nodev): every command and flag they use exists, every
// RMA_*/TEMPORAL_* variable they set is one rma reads, and probes and ports
// match the API.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rma-dev/rma/api"
)

type container struct {
	Args    []string
	Command []string
	Env     map[string]string
	Ports   []struct {
		ContainerPort int `yaml:"containerPort"`
	}
	ReadinessProbe, LivenessProbe *struct {
		HTTPGet struct{ Path string } `yaml:"httpGet"`
	}
	EnvFrom []map[string]map[string]string `yaml:"envFrom"`
}

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rma-deploy")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "rma")
	if out, err := exec.Command("go", "build", "-tags", "nodev", "-o", bin, "../cmd/rma").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// checkInvocation runs `rma <args> --help`: cobra refuses unknown commands
// and flags even then.
func checkInvocation(t *testing.T, args []string) string {
	t.Helper()
	out, err := exec.Command(bin, append(append([]string{}, args...), "--help")...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "unknown") {
		t.Fatalf("rma %v is not a valid invocation: %v\n%s", args, err, out)
	}
	return string(out)
}

func sourceEnv(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"../cmd/rma", "../codec"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(src)
		}
	}
	return b.String()
}

func TestComposeMatchesTheBinary(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image, Command any
			Build          any
			Environment    map[string]string
			Ports          []string
		}
	}
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	src := sourceEnv(t)
	envName := regexp.MustCompile(`^(RMA|TEMPORAL)_`)
	roles := map[string]bool{}
	for name, svc := range compose.Services {
		cmd, ok := svc.Command.([]any)
		if !ok || svc.Build == nil {
			continue // third-party images
		}
		var args []string
		for _, a := range cmd {
			args = append(args, a.(string))
		}
		checkInvocation(t, args)
		roles[args[0]] = true
		for k := range svc.Environment {
			if envName.MatchString(k) && !strings.Contains(src, `"`+k+`"`) {
				t.Errorf("service %s sets %s, which rma never reads", name, k)
			}
		}
	}
	for _, r := range []string{"worker", "api", "sim", "migrate"} {
		if !roles[r] {
			t.Errorf("compose has no rma %s service", r)
		}
	}
}

func TestKubernetesMatchesTheBinary(t *testing.T) {
	raw, err := os.ReadFile("k8s/rma.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var paths struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &paths); err != nil {
		t.Fatal(err)
	}
	src := sourceEnv(t)
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	deployments, jobs := 0, 0
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				Template struct {
					Spec struct{ Containers []container }
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "ConfigMap" {
			for k := range doc.Data {
				if !strings.Contains(src, `"`+k+`"`) {
					t.Errorf("ConfigMap sets %s, which rma never reads", k)
				}
			}
		}
		if doc.Kind == "Job" {
			for _, c := range doc.Spec.Template.Spec.Containers {
				checkInvocation(t, c.Args)
			}
			jobs++
			continue
		}
		if doc.Kind != "Deployment" {
			continue
		}
		deployments++
		for _, c := range doc.Spec.Template.Spec.Containers {
			checkInvocation(t, c.Args)
			for _, p := range []*struct {
				HTTPGet struct{ Path string } `yaml:"httpGet"`
			}{c.ReadinessProbe, c.LivenessProbe} {
				if p != nil {
					if _, ok := paths.Paths[p.HTTPGet.Path]; !ok {
						t.Errorf("probe path %s is not an API path", p.HTTPGet.Path)
					}
				}
			}
			for i, a := range c.Args {
				if a == "--http-port" && (len(c.Ports) == 0 || c.Args[i+1] != itoa(c.Ports[0].ContainerPort)) {
					t.Errorf("containerPort %v does not match --http-port %s", c.Ports, c.Args[i+1])
				}
			}
		}
	}
	if deployments != 2 || jobs != 2 {
		t.Fatalf("want the worker and api Deployments and the setup and migrate Jobs, found %d and %d", deployments, jobs)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestDockerfileBuildsTheCLI(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{"./cmd/rma", `ENTRYPOINT ["/rma"]`, "CGO_ENABLED=0", "-tags nodev", "USER nonroot", "AS build", "distroless/static"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf("no .dockerignore: the build context would carry secrets and tool binaries: %v", err)
	}
	for _, want := range []string{"deploy/secrets.env", "deploy/payload-keys", ".bin/", ".rma-dev/"} {
		if !strings.Contains(string(ignore), want) {
			t.Errorf(".dockerignore lets %s into the image's build context", want)
		}
	}
	gomod, _ := os.ReadFile("../go.mod")
	if m := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(gomod); m == nil || !strings.Contains(s, "golang:"+string(m[1])) {
		t.Errorf("Dockerfile's Go image does not match go.mod's go directive")
	}
}

// secretName is an environment variable that holds a secret.
var secretName = regexp.MustCompile(`(PASSWORD|PWD|SECRET|TOKEN|TOKENS|_AUTH|API_KEY|DATABASE_URL|PAYLOAD_KEYS)$`)

// The deploy files take every secret from env files, compose secrets or
// Kubernetes Secrets, never inline; and the env file they name is
// git-ignored, with a committed example whose values are empty.
func TestNoInlineSecrets(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Environment map[string]string
			EnvFile     []string `yaml:"env_file"`
			Secrets     []string
		}
		Secrets map[string]struct{ File string }
	}
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	envFiles := map[string]bool{}
	for name, svc := range compose.Services {
		for k, v := range svc.Environment {
			if secretName.MatchString(k) {
				t.Errorf("compose service %s sets %s=%q inline", name, k, v)
			}
			if strings.Contains(strings.ToLower(v), "change-me") {
				t.Errorf("compose service %s: %s is a placeholder", name, k)
			}
		}
		for _, f := range svc.EnvFile {
			envFiles[f] = true
		}
	}
	ignored, err := os.ReadFile("../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	for f := range envFiles {
		if !strings.Contains(string(ignored), "deploy/"+f) {
			t.Errorf("env file %s is not git-ignored", f)
		}
		example, err := os.ReadFile(f + ".example")
		if err != nil {
			t.Errorf("no %s.example documents %s", f, f)
			continue
		}
		for _, line := range strings.Split(string(example), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && !strings.HasPrefix(k, "#") && v != "" && !strings.Contains(v, "<password>") {
				t.Errorf("%s.example gives %s a value", f, k)
			}
		}
	}
	for name, s := range compose.Secrets {
		if !strings.Contains(string(ignored), "deploy/"+s.File) {
			t.Errorf("compose secret %s (%s) is not git-ignored", name, s.File)
		}
	}

	k8s, err := os.ReadFile("k8s/rma.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(k8s)))
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Env []struct {
								Name, Value string
							}
						}
					}
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "Secret" {
			t.Error("k8s/rma.yaml holds a Secret: secrets are created by the operator, not committed")
		}
		for k := range doc.Data {
			if secretName.MatchString(k) {
				t.Errorf("%s sets %s in plain data", doc.Kind, k)
			}
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if secretName.MatchString(e.Name) && e.Value != "" {
					t.Errorf("a container sets %s inline", e.Name)
				}
			}
		}
	}
}

// rma api and rma worker refuse to start with a placeholder secret, before
// they connect to anything.
func TestPlaceholderSecretsStopTheProcesses(t *testing.T) {
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"api"}, []string{"RMA_WEBHOOK_SECRET=change-me"}, "placeholder"},
		{[]string{"api"}, []string{"RMA_WEBHOOK_SECRET=7c1e0f4a9b2d48e6a3f5", "RMA_TOKENS=change-me=admin:ops"}, "placeholder"},
		{[]string{"api"}, []string{"RMA_WEBHOOK_SECRET=7c1e0f4a9b2d48e6a3f5", "RMA_TOKENS=short=admin:ops"}, "characters"},
		{[]string{"api"}, []string{"RMA_WEBHOOK_SECRET=7c1e0f4a9b2d48e6a3f5"}, "payload encryption keys"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x"}, []string{"RMA_PAYMENTS_AUTH=bearer:change-me"}, "placeholder"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x"}, []string{"RMA_CARRIER_AUTH=basic:abc"}, "bearer:TOKEN or hmac:SECRET"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x", "--payments", "stripe"}, nil, "RMA_STRIPE_SECRET_KEY"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x"}, []string{"RMA_PAYMENTS=stripe", "RMA_STRIPE_SECRET_KEY=sk_test_change-me"}, "placeholder"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x", "--notifications", "smtp"}, nil, "--smtp-addr"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x", "--payments", "stripe"}, []string{"RMA_STRIPE_SECRET_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc"}, "advance_hold_window"},
		{[]string{"worker", "--database-url", "postgres://127.0.0.1:1/x", "--payments", "paypal"}, nil, "use service or stripe"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TEMPORAL_ADDRESS=127.0.0.1:1"}
		cmd.Env = append(env, c.env...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("rma %v with %v: %v %s", c.args, c.env, err, out)
		}
	}
}
