package scenarios

import "reflect"

// FieldPaths lists every path --set takes, as a scenario file spells it
// ("producers.rate", "broker.kafka.acks", "faults.0.kind": a list of
// mappings by its first entry), in the order of the fields: what shell
// completion offers.
func (l Loader) FieldPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for _, f := range fieldsOf(t) {
			path := prefix + f.name
			out = append(out, path)
			ft := f.typ
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case isLeaf(ft):
			case ft.Kind() == reflect.Struct:
				walk(ft, path+".")
			case ft.Kind() == reflect.Slice && !isLeaf(ft.Elem()) && structOrPointer(ft.Elem()):
				walk(ft.Elem(), path+".0.")
			}
		}
	}
	walk(l.docTypes().scenario, "")
	return out
}

func structOrPointer(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}
