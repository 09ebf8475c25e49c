package domain

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// PolicyChange is one setting that differs between two policies, by its
// YAML path ("review.auto_approve.max_value"); "" stands for unset.
type PolicyChange struct {
	Path string `json:"path"`
	From string `json:"from"`
	To   string `json:"to"`
}

func (c PolicyChange) String() string {
	switch {
	case c.From == "":
		return fmt.Sprintf("+ %s: %s", c.Path, c.To)
	case c.To == "":
		return fmt.Sprintf("- %s: %s", c.Path, c.From)
	}
	return fmt.Sprintf("~ %s: %s → %s", c.Path, c.From, c.To)
}

// DiffPolicyYAML compares two policies in their YAML form (Policy.YAML),
// setting by setting: maps are walked key by key, lists compared whole.
func DiffPolicyYAML(a, b []byte) ([]PolicyChange, error) {
	fa, err := flattenYAML(a)
	if err != nil {
		return nil, err
	}
	fb, err := flattenYAML(b)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []PolicyChange
	for k := range keys {
		if fa[k] != fb[k] {
			out = append(out, PolicyChange{Path: k, From: fa[k], To: fb[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func flattenYAML(doc []byte) (map[string]string, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	out := map[string]string{}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(path, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if path != "" {
					k = path + "." + k
				}
				walk(k, n.Content[i+1])
			}
		case yaml.SequenceNode:
			var items []string
			for _, c := range n.Content {
				flow(c)
				b, _ := yaml.Marshal(c)
				items = append(items, strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " ")))
			}
			out[path] = "[" + strings.Join(items, ", ") + "]"
		default:
			if n.Tag != "!!null" {
				out[path] = n.Value
			}
		}
	}
	walk("", &n)
	return out, nil
}

// flow renders a node on one line: {name: vip, when: {customer_tier: vip}}.
func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}
