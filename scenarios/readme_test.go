package scenarios

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The README's field reference is rendered from the committed schema, so it
// lists every field the loader knows, with its type, default and doc
// comment. Regenerate with: go test ./scenarios -run README -update
const (
	readmePath   = "../README.md"
	fieldsStart  = "<!-- scenario-fields -->"
	fieldsEnd    = "<!-- /scenario-fields -->"
	fieldsHeader = "| field | type | default | description |\n|---|---|---|---|\n"
)

// schemaNode is the part of a JSON Schema the reference reads.
type schemaNode struct {
	Ref         string                 `json:"$ref"`
	Type        string                 `json:"type"`
	Title       string                 `json:"title"`
	Description string                 `json:"description"`
	Enum        []any                  `json:"enum"`
	Default     any                    `json:"default"`
	Items       *schemaNode            `json:"items"`
	Properties  json.RawMessage        `json:"properties"`
	Defs        map[string]*schemaNode `json:"$defs"`
}

// orderedProps decodes "properties" keeping the order of the Go fields.
func orderedProps(raw json.RawMessage) ([]string, map[string]*schemaNode, error) {
	if len(raw) == 0 {
		return nil, nil, nil
	}
	props := map[string]*schemaNode{}
	if err := json.Unmarshal(raw, &props); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var order []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				order = append(order, v)
				// Skip the value: read until back at depth 1.
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return order, props, nil
}

func renderFields(schema []byte) (string, error) {
	var root schemaNode
	if err := json.Unmarshal(schema, &root); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(fieldsHeader)
	var walk func(n *schemaNode, prefix string) error
	walk = func(n *schemaNode, prefix string) error {
		order, props, err := orderedProps(n.Properties)
		if err != nil {
			return err
		}
		for _, name := range order {
			p := props[name]
			path := prefix + name
			target := p
			if p.Ref != "" {
				target = root.Defs[strings.TrimPrefix(p.Ref, "#/$defs/")]
			}
			typ := typeName(p, target)
			desc := p.Description
			if desc == "" {
				desc = target.Description
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", path, typ, defaultText(p.Default), cell(desc))
			switch {
			case target.Properties != nil:
				if err := walk(target, path+"."); err != nil {
					return err
				}
			case target.Type == "array" && target.Items != nil && target.Items.Ref != "":
				if err := walk(root.Defs[strings.TrimPrefix(target.Items.Ref, "#/$defs/")], path+"[]."); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(&root, ""); err != nil {
		return "", err
	}
	return b.String(), nil
}

func typeName(p, target *schemaNode) string {
	switch {
	case p.Title != "":
		return p.Title
	case len(target.Enum) > 0:
		return oneOf(target.Enum)
	case target.Properties != nil:
		return "mapping"
	case target.Type == "array" && target.Items != nil:
		if len(target.Items.Enum) > 0 {
			return "list of " + oneOf(target.Items.Enum)
		}
		if target.Items.Ref != "" {
			return "list of mappings"
		}
		return "list of " + target.Items.Type
	}
	return target.Type
}

func oneOf(values []any) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = fmt.Sprintf("`%v`", v)
	}
	return strings.Join(s, ", ")
}

func defaultText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = fmt.Sprint(e)
		}
		return "`[" + strings.Join(s, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", v)
}

// cell escapes what Markdown would read as table or HTML syntax
// ("<destination>" would vanish as an unknown tag).
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestREADMEFieldReference keeps the README's scenario field reference in
// step with the schema (and so with the Go types).
func TestREADMEFieldReference(t *testing.T) {
	table, err := renderFields(JSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, fieldsStart), strings.Index(text, fieldsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s ... %s block", fieldsStart, fieldsEnd)
	}
	want := fieldsStart + "\n" + table + fieldsEnd
	got := text[i : j+len(fieldsEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(text[:i]+want+text[j+len(fieldsEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's scenario field reference is stale (run go test ./scenarios -run README -update)")
}
