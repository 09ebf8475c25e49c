package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// k8sObjects decodes every document of a manifest file strictly against
// the Kubernetes API types (the schema the API server enforces, compiled
// into k8s.io/api): an unknown or misspelt field, a duplicate field, a
// wrong type or an unknown apiVersion/kind fails. No cluster, no network.
func k8sObjects(t *testing.T, path string) []runtime.Object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []runtime.Object
	for i, doc := range bytes.Split(raw, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i+1, err)
		}
		if gvk.Version == "" || gvk.Kind == "" {
			t.Fatalf("%s document %d has no apiVersion or kind", path, i+1)
		}
		out = append(out, obj)
	}
	return out
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// TestKubernetesManifestsValidate validates deploy/k8s against the
// Kubernetes schema, then what the schema cannot see: selectors that
// select, probes on declared ports, requests on every container, and a
// disruption budget and an autoscaler for each Deployment.
func TestKubernetesManifestsValidate(t *testing.T) {
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	deployments := map[string]*appsv1.Deployment{}
	var pdbs []*policyv1.PodDisruptionBudget
	var hpas []*autoscalingv2.HorizontalPodAutoscaler
	var services []*corev1.Service
	var pods []corev1.PodSpec
	kinds := map[string]int{}
	for _, f := range files {
		for _, obj := range k8sObjects(t, f) {
			kinds[fmt.Sprintf("%T", obj)]++
			switch o := obj.(type) {
			case *appsv1.Deployment:
				deployments[o.Name] = o
				sel, err := metav1Selector(o.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(o.Spec.Template.Labels)) {
					t.Errorf("Deployment %s: selector %v does not select its pods %v (%v)", o.Name, o.Spec.Selector, o.Spec.Template.Labels, err)
				}
				for _, c := range o.Spec.Template.Spec.Containers {
					if c.ReadinessProbe == nil || c.LivenessProbe == nil {
						t.Errorf("Deployment %s container %s lacks a readiness or liveness probe", o.Name, c.Name)
					}
				}
				pods = append(pods, o.Spec.Template.Spec)
			case *batchv1.Job:
				pods = append(pods, o.Spec.Template.Spec)
			case *policyv1.PodDisruptionBudget:
				pdbs = append(pdbs, o)
			case *autoscalingv2.HorizontalPodAutoscaler:
				hpas = append(hpas, o)
			case *corev1.Service:
				services = append(services, o)
			}
		}
	}
	t.Logf("validated %v", kinds)
	for _, p := range pods {
		if p.SecurityContext == nil || p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
			t.Errorf("a pod may run as root: %v", p.Containers[0].Name)
		}
		for _, c := range p.Containers {
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Errorf("container %s has no CPU or memory request", c.Name)
			}
			for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if pr != nil && pr.HTTPGet != nil && !hasPort(c, pr.HTTPGet.Port) {
					t.Errorf("container %s probes port %s, which it does not declare", c.Name, pr.HTTPGet.Port.String())
				}
			}
		}
	}
	for name, d := range deployments {
		covered := false
		for _, p := range pdbs {
			sel, err := metav1Selector(p.Spec.Selector)
			if err == nil && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("Deployment %s has no PodDisruptionBudget", name)
		}
		scaled := false
		for _, h := range hpas {
			if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == name {
				scaled = true
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
					t.Errorf("HPA %s: min %v max %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
				}
			}
		}
		if !scaled {
			t.Errorf("Deployment %s has no HorizontalPodAutoscaler", name)
		}
	}
	for _, h := range hpas {
		if deployments[h.Spec.ScaleTargetRef.Name] == nil {
			t.Errorf("HPA %s scales %s, which is not a Deployment here", h.Name, h.Spec.ScaleTargetRef.Name)
		}
	}
	for _, s := range services {
		found := false
		for _, d := range deployments {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				found = true
				for _, sp := range s.Spec.Ports {
					if !hasPort(d.Spec.Template.Spec.Containers[0], sp.TargetPort) {
						t.Errorf("Service %s targets port %s, which %s does not declare", s.Name, sp.TargetPort.String(), d.Name)
					}
				}
			}
		}
		if !found {
			t.Errorf("Service %s selects no Deployment", s.Name)
		}
	}
	if len(deployments) != 2 || deployments["rma-worker"] == nil || deployments["rma-api"] == nil {
		t.Errorf("want the rma-worker and rma-api Deployments, have %v", kinds)
	}
}

func hasPort(c corev1.Container, p intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return true
		}
	}
	return false
}

// TestComposeRefersOnlyToWhatExists: every service a service depends on,
// every host a URL names, every file it mounts or builds from, every named
// volume and secret, and the env file's example exist; images are pinned,
// and the Temporal images are the versions go.mod builds.
func TestComposeRefersOnlyToWhatExists(t *testing.T) {
	c := readCompose(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	server := regexp.MustCompile(`go\.temporal\.io/server v(\S+)`).FindSubmatch(gomod)
	ui := regexp.MustCompile(`github\.com/temporalio/ui-server/v2 v(\S+)`).FindSubmatch(gomod)
	if server == nil || ui == nil {
		t.Fatal("go.mod lacks the Temporal server or UI server")
	}
	host := regexp.MustCompile(`^(?:https?://)?([a-z][a-z0-9-]*):\d+`)
	for name, s := range c.Services {
		for dep, cond := range s.dependsOn() {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
				continue
			}
			if cond == "service_completed_successfully" && target.Command == nil {
				t.Errorf("%s waits for %s to complete, which runs no one-shot command", name, dep)
			}
			if cond == "service_healthy" && target.Healthcheck == nil {
				t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
		for k, v := range s.Environment {
			if m := host.FindStringSubmatch(v); m != nil && m[1] != "localhost" {
				if _, ok := c.Services[m[1]]; !ok {
					t.Errorf("%s: %s=%s names host %s, which is no service", name, k, v, m[1])
				}
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared", name, src)
			}
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("%s uses secret %s, which is not declared", name, sec)
			}
		}
		for _, f := range s.EnvFile {
			if _, err := os.Stat(f + ".example"); err != nil {
				t.Errorf("%s reads %s, which has no committed %s.example", name, f, f)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("%s builds from %s/%s: %v", name, s.Build.Context, s.Build.Dockerfile, err)
			}
		} else {
			img, tag, ok := strings.Cut(s.Image, ":")
			if !ok || tag == "" || tag == "latest" {
				t.Errorf("%s: image %q is not pinned", name, s.Image)
			}
			want := map[string]string{"temporalio/server": string(server[1]), "temporalio/admin-tools": string(server[1]), "temporalio/ui": string(ui[1])}[img]
			if want != "" && tag != want {
				t.Errorf("%s runs %s, go.mod builds %s", name, s.Image, want)
			}
		}
	}
}

// TestComposeInStepWithTopology: the compose file runs the processes the
// local topology runs (topology.Start, make topology), so what the
// real-cluster test proves is what compose deploys.
func TestComposeInStepWithTopology(t *testing.T) {
	c := readCompose(t)
	roles := map[string]int{}
	for _, s := range c.Services {
		switch {
		case strings.HasPrefix(s.Image, "temporalio/server:"):
			roles["temporal server"]++
		case strings.HasPrefix(s.Image, "temporalio/admin-tools:") && strings.Contains(fmt.Sprint(s.Command), "temporal-sql-tool"):
			roles["schema tool"]++
		case strings.HasPrefix(s.Image, "temporalio/ui:"):
			roles["temporal ui"]++
		case strings.HasPrefix(s.Image, "postgres:"):
			roles["postgresql"]++
		case s.Build != nil:
			args, _ := s.Command.([]any)
			if len(args) > 0 {
				n := 1
				if s.Deploy.Replicas > 0 {
					n = s.Deploy.Replicas
				}
				roles["rma "+args[0].(string)] += n
			}
		}
	}
	want := map[string]int{"temporal server": 1, "schema tool": 1, "temporal ui": 1, "postgresql": 2,
		"rma setup": 1, "rma migrate": 1, "rma sim": 1, "rma api": 1, "rma worker": 2}
	for r, n := range want {
		if roles[r] != n {
			t.Errorf("compose runs %d %s, the topology %d", roles[r], r, n)
		}
	}
	src, err := os.ReadFile("../topology/topology.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{`"setup"`, `"migrate"`, `"sim"`, `"api"`, `"worker"`} {
		if !strings.Contains(string(src), cmd) {
			t.Errorf("the topology no longer runs rma %s", cmd)
		}
	}
}

type composeService struct {
	Image       string
	Build       *struct{ Context, Dockerfile string }
	Command     any
	DependsOn   any `yaml:"depends_on"`
	Environment map[string]string
	Volumes     []string
	Secrets     []string
	EnvFile     []string `yaml:"env_file"`
	Healthcheck any
	Deploy      struct{ Replicas int }
}

// dependsOn is depends_on in either of its forms, with each condition.
func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out[n.(string)] = "service_started"
		}
	case map[string]any:
		for n, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok {
				if c, ok := m["condition"].(string); ok {
					cond = c
				}
			}
			out[n] = cond
		}
	}
	return out
}

type composeFile struct {
	Services map[string]composeService
	Volumes  map[string]any
	Secrets  map[string]any
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

func metav1Selector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
