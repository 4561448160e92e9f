package restio

import "strings"

// nextLink returns the target of the first link with relation type "next"
// in the Link header fields hs (RFC 8288, section 3): link-values
// separated by commas, each a URI reference in angle brackets followed by
// parameters `; name=token` or `; name="quoted string"`. The rel parameter
// is a space-separated list of relation types, compared without case; a
// parameter that appears twice counts once, the first time (section 3.3).
// No module served to this project parses Link headers, hence this one.
func nextLink(hs []string) (string, bool) {
	for _, h := range hs {
		for _, l := range parseLinks(h) {
			for _, r := range strings.Fields(l.rel) {
				if strings.EqualFold(r, "next") {
					return l.target, true
				}
			}
		}
	}
	return "", false
}

type link struct {
	target string
	rel    string
}

// parseLinks reads one Link header field. Malformed link-values are
// skipped, as a lenient client does; what follows them is still read.
func parseLinks(h string) []link {
	var out []link
	s := h
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		if s[0] != '<' {
			// Not a link-value: skip to the next comma outside quotes.
			s = skipValue(s)
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return out
		}
		l := link{target: strings.TrimSpace(s[1:end])}
		s = s[end+1:]
		if strings.Contains(l.target, "<") { // not a URI reference
			s = skipValue(s)
			continue
		}
		relSeen := false
		// Parameters until a comma that ends the link-value.
		for {
			s = strings.TrimLeft(s, " \t")
			if s == "" || s[0] == ',' {
				break
			}
			if s[0] != ';' {
				s = skipValue(s)
				break
			}
			s = strings.TrimLeft(s[1:], " \t")
			i := strings.IndexAny(s, "=;,")
			var name, value string
			if i < 0 {
				name, s = strings.TrimSpace(s), ""
			} else {
				name = strings.TrimSpace(s[:i])
				if s[i] == '=' {
					s = strings.TrimLeft(s[i+1:], " \t")
					value, s = paramValue(s)
				} else {
					s = s[i:]
				}
			}
			if strings.EqualFold(name, "rel") && !relSeen {
				l.rel, relSeen = value, true
			}
		}
		out = append(out, l)
	}
}

// paramValue reads a token or a quoted string (with backslash escapes)
// and returns it and the rest of s.
func paramValue(s string) (string, string) {
	if s != "" && s[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					i++
					b.WriteByte(s[i])
				}
			case '"':
				return b.String(), s[i+1:]
			default:
				b.WriteByte(s[i])
			}
		}
		return b.String(), ""
	}
	i := strings.IndexAny(s, ";,")
	if i < 0 {
		return strings.TrimSpace(s), ""
	}
	return strings.TrimSpace(s[:i]), s[i:]
}

// skipValue returns s after the next comma outside a quoted string.
func skipValue(s string) string {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == ',':
			return s[i+1:]
		}
	}
	return ""
}
