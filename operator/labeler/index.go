// Package labeler gives every Node a stable index, stored in the label
// network.perouter.io/node-index, from which ipam derives the node's VTEP,
// router ID and veth addresses.
//
// Stability is the whole point: an index, once given, is never changed
// while the Node exists, because changing it would move the node's VTEP and
// router ID under running BGP sessions. The only exception is a duplicate
// (two Nodes carrying one index, e.g. a Node restored from a backup): the
// node that held the index first keeps it. "First" is decided by the Node's
// creationTimestamp, then by name, both of which never change while the
// Node exists, so every labeler instance, before or after a restart, picks
// the same winner.
package labeler

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// NoIndexAnnotation explains why a node has no index (capacity reached).
// It is removed as soon as the node gets one.
const NoIndexAnnotation = "network.perouter.io/node-index-error"

// NodeInfo is what the allocation needs to know about one Node.
type NodeInfo struct {
	Name    string
	Created time.Time
	// Label is the raw value of v1alpha1.NodeIndexLabel, "" when absent.
	Label string
}

// Action says what to do with one node's label.
type Action string

const (
	// Keep: the node has a valid, unique index.
	Keep Action = "Keep"
	// Assign: set the label to Decision.Index.
	Assign Action = "Assign"
	// NoCapacity: the node cannot get an index within MaxIndex; remove any
	// label it carries that is not its own and mark it.
	NoCapacity Action = "NoCapacity"
)

// Decision is the outcome for one node.
type Decision struct {
	Action Action
	// Index is the node's index after the decision (-1 with NoCapacity).
	Index int
	// Reason says why an existing label was replaced ("" for Keep and for
	// a node that had no label).
	Reason string
}

// Unlimited disables the capacity check.
const Unlimited = -1

// Allocate decides every node's index. maxIndex is the highest index the
// configured pools can address, or Unlimited.
//
// Rules, in order:
//  1. A label that is not a non-negative decimal integer (without sign or
//     leading zeros) is invalid and replaced.
//  2. Of several nodes carrying one index, the oldest (creationTimestamp,
//     then name) keeps it; the others are re-assigned.
//  3. A node keeps a valid unique index even above maxIndex: changing it
//     would move a live router; ipam reports the pool as too small instead.
//  4. Nodes needing an index get the lowest free ones, oldest node first,
//     so the outcome does not depend on the order the nodes are listed in.
//  5. When the lowest free index exceeds maxIndex the node gets none.
func Allocate(nodes []NodeInfo, maxIndex int) map[string]Decision {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, olderFirst)

	decisions := make(map[string]Decision, len(nodes))
	used := map[int]string{}
	var needIndex []NodeInfo
	reasons := map[string]string{}
	for _, n := range sorted {
		if n.Label == "" {
			needIndex = append(needIndex, n)
			continue
		}
		idx, ok := ParseIndex(n.Label)
		if !ok {
			needIndex = append(needIndex, n)
			reasons[n.Name] = "label " + strconv.Quote(n.Label) + " is not a node index"
			continue
		}
		if holder, taken := used[idx]; taken {
			needIndex = append(needIndex, n)
			reasons[n.Name] = "index " + n.Label + " is also held by the older node " + holder
			continue
		}
		used[idx] = n.Name
		decisions[n.Name] = Decision{Action: Keep, Index: idx}
	}

	next := 0
	for _, n := range needIndex {
		for {
			if _, taken := used[next]; !taken {
				break
			}
			next++
		}
		if maxIndex != Unlimited && next > maxIndex {
			decisions[n.Name] = Decision{Action: NoCapacity, Index: -1, Reason: reasons[n.Name]}
			continue
		}
		used[next] = n.Name
		decisions[n.Name] = Decision{Action: Assign, Index: next, Reason: reasons[n.Name]}
	}
	return decisions
}

// ParseIndex reads a label value in canonical decimal form. Non-canonical
// forms ("+1", "01") are refused so that one index has one spelling and
// label selectors on it work.
func ParseIndex(label string) (int, bool) {
	idx, err := strconv.Atoi(label)
	if err != nil || idx < 0 || strconv.Itoa(idx) != label {
		return 0, false
	}
	return idx, true
}

func olderFirst(a, b NodeInfo) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}
