package source

// jsonShape reads the shape of one JSON text without decoding it: whether
// it nests objects and lists deeper than maxDepth (it stops reading there),
// and how many fields its objects hold as NDJSON columns count them, each
// value in an object that is not an object one field (a nested object's
// fields are counted instead; a list is one field, whatever it holds). It
// does not check that the text is valid JSON: decoding does.
func jsonShape(raw []byte, maxDepth int) (tooDeep bool, fields int) {
	var open []byte // the objects ('{') and lists ('[') open
	lists := 0      // lists among them
	value := false  // a member's value comes next
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case ' ', '\t', '\r', '\n', ',':
			continue
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case ':':
			value = len(open) > 0 && open[len(open)-1] == '{' && lists == 0
			continue
		case '{', '[':
			if len(open) == maxDepth {
				return true, fields
			}
			open = append(open, c)
			if c == '[' {
				lists++
			}
			if c == '{' {
				value = false // its members are counted, not the object
				continue
			}
		case '}', ']':
			if len(open) > 0 {
				if open[len(open)-1] == '[' {
					lists--
				}
				open = open[:len(open)-1]
			}
			continue
		}
		if value {
			fields++
			value = false
		}
	}
	return false, fields
}
