package vtysh

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is an FRR release as "show version" names it.
type Version struct{ Major, Minor int }

var versionLine = regexp.MustCompile(`FRRouting (\d+)\.(\d+)`)

// ParseVersion reads the release from the output of "show version"
// ("FRRouting 10.7.1 (leafkind1) on Linux(6.12.48).").
func ParseVersion(showVersion string) (Version, error) {
	m := versionLine.FindStringSubmatch(showVersion)
	if m == nil {
		return Version{}, fmt.Errorf("show version: no FRR release in %q", showVersion)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return Version{Major: major, Minor: minor}, nil
}

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }
