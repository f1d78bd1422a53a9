package frr

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// A shape is everything about a vrfView that can change which lines the
// templates print: presence of optional parts, booleans, list lengths and
// which strings are empty. Two VRFs of one shape differ only in the values
// printed, so the templates run once per shape on a copy whose values are
// numbered placeholders, and later VRFs of that shape are filled in by
// substitution. This keeps the templates the only description of the
// output (TestShapeCacheMatchesTemplates compares both paths) while a
// 1,000-VRF config no longer pays reflection for every field.

const (
	slotOpen  = '\x00'
	slotClose = '\x01'
)

// shape appends the printable values of v to values, in a fixed order, and
// returns the shape key. Keep visitVRF and this order in sync: placeholder
// k stands for values[k].
func (v *vrfView) shape(values *[]string) string {
	var key strings.Builder
	visitVRF(v, func(s *string) {
		if *s == "" {
			key.WriteByte('e')
			return
		}
		key.WriteByte('s')
		*values = append(*values, *s)
	}, func(b bool) {
		if b {
			key.WriteByte('T')
		} else {
			key.WriteByte('F')
		}
	}, func(n int) {
		key.WriteByte('[')
		key.WriteString(strconv.Itoa(n))
	})
	return key.String()
}

// visitVRF walks every field of v the per-VRF templates read.
func visitVRF(v *vrfView, str func(*string), flag func(bool), length func(int)) {
	str(&v.Source)
	str(&v.VRF)
	str(&v.VNI)
	str(&v.ASN)
	str(&v.RouterID)
	length(len(v.ImportRTs))
	for i := range v.ImportRTs {
		str(&v.ImportRTs[i])
	}
	length(len(v.ExportRTs))
	for i := range v.ExportRTs {
		str(&v.ExportRTs[i])
	}
	flag(v.Connected4)
	flag(v.Connected6)
	flag(v.Session != nil)
	if s := v.Session; s != nil {
		str(&s.Policy)
		str(&s.Tag)
		for _, f := range []*familyView{s.V4, s.V6} {
			flag(f != nil)
			if f == nil {
				continue
			}
			str(&f.ID)
			str(&f.RemoteAS)
			str(&f.ConnectTime)
			str(&f.Network)
			str(&f.Policy)
			str(&f.In)
			flag(f.NextHopSelf)
			str(&f.MaxPrefixes)
			length(len(f.Rules))
			for i := range f.Rules {
				str(&f.Rules[i])
			}
		}
	}
}

// placeholderCopy returns a deep copy of v whose non-empty strings are
// replaced by numbered placeholders, in visitVRF order.
func placeholderCopy(v *vrfView) *vrfView {
	c := *v
	c.ImportRTs = append([]string(nil), v.ImportRTs...)
	c.ExportRTs = append([]string(nil), v.ExportRTs...)
	if v.Session != nil {
		s := *v.Session
		for _, f := range []**familyView{&s.V4, &s.V6} {
			if *f != nil {
				fc := **f
				fc.Rules = append([]string(nil), fc.Rules...)
				*f = &fc
			}
		}
		c.Session = &s
	}
	n := 0
	visitVRF(&c, func(s *string) {
		if *s != "" {
			*s = string(slotOpen) + strconv.Itoa(n) + string(slotClose)
			n++
		}
	}, func(bool) {}, func(int) {})
	return &c
}

// pattern is template output split at the placeholders.
type pattern struct {
	literals []string // len(slots)+1
	slots    []int
}

func compilePattern(text string) pattern {
	var p pattern
	for {
		open := strings.IndexByte(text, slotOpen)
		if open < 0 {
			break
		}
		end := strings.IndexByte(text[open:], slotClose)
		slot, _ := strconv.Atoi(text[open+1 : open+end])
		p.literals = append(p.literals, text[:open])
		p.slots = append(p.slots, slot)
		text = text[open+end+1:]
	}
	p.literals = append(p.literals, text)
	return p
}

func (p pattern) writeTo(b *bytes.Buffer, values []string) {
	for i, s := range p.slots {
		b.WriteString(p.literals[i])
		b.WriteString(values[s])
	}
	b.WriteString(p.literals[len(p.slots)])
}

type vrfPatterns struct {
	stanza, prefixLists, bgp pattern
}

// maxShapes bounds the cache; real nodes have a handful of shapes (session
// families, RT list lengths), so the bound only stops a pathological input
// from growing memory.
const maxShapes = 4096

type shapeCache struct {
	mu     sync.RWMutex
	shapes map[string]*vrfPatterns
}

var vrfShapes = &shapeCache{shapes: map[string]*vrfPatterns{}}

func (c *shapeCache) get(key string, v *vrfView) (*vrfPatterns, error) {
	c.mu.RLock()
	p, ok := c.shapes[key]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	t, err := executeVRF(placeholderCopy(v))
	if err != nil {
		return nil, err
	}
	p = &vrfPatterns{
		stanza:      compilePattern(t.Stanza),
		prefixLists: compilePattern(t.PrefixLists),
		bgp:         compilePattern(t.BGP),
	}
	c.mu.Lock()
	if len(c.shapes) < maxShapes {
		c.shapes[key] = p
	}
	c.mu.Unlock()
	return p, nil
}
