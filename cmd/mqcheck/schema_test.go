package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/scenarios"
)

func TestSchemaCommandAndPrintModeline(t *testing.T) {
	code, out, errs := mqcheck(t, "schema")
	if code != 0 || !bytes.Equal([]byte(out), scenarios.JSONSchema()) {
		t.Fatalf("schema: exit %d, %d bytes\n%s", code, len(out), errs)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["$id"] != scenarios.SchemaURL {
		t.Errorf("schema output: %v, $id %v", err, v["$id"])
	}
	code, out, _ = mqcheck(t, "run", "memory-quickstart", "--print")
	if code != 0 || !strings.HasPrefix(out, scenarios.Modeline+"\n") {
		t.Errorf("--print does not start with the schema modeline:\n%s", out)
	}
	// What --print shows runs as it is.
	if code, _, errs := mqcheck(t, "validate", writeScenario(t, out)); code != 0 {
		t.Errorf("--print output does not validate:\n%s", errs)
	}
}
