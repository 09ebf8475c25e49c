// Package deploy holds the container image, compose file and Kubernetes
// manifests. No Docker engine runs here, so this test checks them statically
// against the real binary: every command and flag they use exists, every
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
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/rma").CombinedOutput(); err != nil {
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
	for _, dir := range []string{"../cmd/rma"} {
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
		if !ok {
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
	if deployments != 2 || jobs != 1 {
		t.Fatalf("want the worker and api Deployments and the migrate Job, found %d and %d", deployments, jobs)
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
	for _, want := range []string{"./cmd/rma", `ENTRYPOINT ["/rma"]`, "CGO_ENABLED=0"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	gomod, _ := os.ReadFile("../go.mod")
	if m := regexp.MustCompile(`(?m)^go (1\.\d+)`).FindSubmatch(gomod); m == nil || !strings.Contains(s, "golang:"+string(m[1])) {
		t.Errorf("Dockerfile's Go image does not match go.mod's go directive")
	}
}
