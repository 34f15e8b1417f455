package connections

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Sources are the source policy a config file may set, where imports may
// read their lists from (see activities/source Policy):
//
//	sources:
//	  roots: [/exports, /mnt/warehouse]         # IMPORTER_SOURCE_ROOTS
//	  hosts: [exports.internal, "10.0.0.5:8443"] # IMPORTER_SOURCE_HOSTS
//
// Values may hold ${VAR} references. A variable that is set wins over the
// file's list of the same kind.
type Sources struct {
	Roots []string
	Hosts []string
}

// Sources returns what the config file said of sources; empty without a
// file or without a sources block.
func (s Set) Sources() Sources { return s.sources }

func parseSources(n *yaml.Node, lookup func(string) (string, bool)) (Sources, error) {
	var out Sources
	if isNull(n) {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return out, at(n, "sources must map roots and hosts to lists")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		var list *[]string
		switch k.Value {
		case "roots":
			list = &out.Roots
		case "hosts":
			list = &out.Hosts
		default:
			return out, at(k, "sources: unknown key %s (sources has roots and hosts)", quoteName(k.Value))
		}
		if *list != nil {
			return out, at(k, "sources: %s appears twice", k.Value)
		}
		*list = []string{}
		if isNull(v) {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return out, at(v, "sources: %s must be a list", k.Value)
		}
		for _, item := range v.Content {
			item = resolve(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				return out, at(item, "sources: each of %s must be one value", k.Value)
			}
			val, err := expand(item.Value, lookup)
			if err != nil {
				return out, at(item, "sources: %s %v", k.Value, err)
			}
			if val = strings.TrimSpace(val); val != "" {
				*list = append(*list, val)
			}
		}
	}
	return out, nil
}
