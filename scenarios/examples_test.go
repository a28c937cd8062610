package scenarios

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// yamlBlocks returns the ```yaml blocks of a Markdown text with the line
// each starts on.
func yamlBlocks(text string) (blocks []string, lines []int) {
	var cur []string
	in, start := false, 0
	for i, l := range strings.Split(text, "\n") {
		switch {
		case !in && strings.TrimSpace(l) == "```yaml":
			in, start, cur = true, i+2, nil
		case in && strings.HasPrefix(strings.TrimSpace(l), "```"):
			in = false
			blocks, lines = append(blocks, strings.Join(cur, "\n")+"\n"), append(lines, start)
		case in:
			cur = append(cur, l)
		}
	}
	return blocks, lines
}

// TestREADMEExamplesLoad: every YAML example a user may copy from the
// README is a scenario (or a part of one) that loads. Parts that show one
// section (faults:, thresholds:) are completed with a broker (the memory
// broker, the embedded Kafka cluster for faults) and a minute of load
// (unless a load shape sets its length); the
// reference sketch's elided sections ({...}) are read as empty. Blocks
// that are not scenarios (a CI workflow, an editor modeline) are told apart
// by their top-level keys.
func TestREADMEExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, f := range fieldsOf(scenarioType) {
		fields[f.name] = true
	}
	elided := regexp.MustCompile(`\{\.\.\.\}`)
	blocks, lines := yamlBlocks(string(readme))
	loaded := 0
	for i, b := range blocks {
		var top map[string]any
		if err := yaml.Unmarshal([]byte(b), &top); err != nil {
			t.Errorf("README.md:%d: not YAML: %v", lines[i], err)
			continue
		}
		scenario := len(top) > 0
		for k := range top {
			scenario = scenario && fields[k]
		}
		if !scenario {
			t.Logf("README.md:%d: not a scenario (keys %v)", lines[i], keys(top))
			continue
		}
		text := elided.ReplaceAllString(b, "{}")
		if _, ok := top["broker"]; !ok {
			// Faults need a broker mqcheck can restart, pause and put a
			// proxy in front of: the embedded Kafka cluster.
			kind := "memory"
			if _, ok := top["faults"]; ok {
				kind = "kafka"
			}
			text += "broker: {kind: " + kind + "}\n"
			// A load shape has its own length.
			if _, ok := top["duration"]; !ok && top["load"] == nil {
				text += "duration: 1m\n"
			}
		}
		if _, err := Parse([]byte(text), "readme-example.yaml"); err != nil {
			t.Errorf("README.md:%d: the example does not load:\n%v\n%s", lines[i], err, text)
		}
		loaded++
	}
	if loaded < 7 {
		t.Errorf("only %d README examples loaded; the block scan is broken", loaded)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
