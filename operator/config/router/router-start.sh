#!/bin/sh
# Runs FRR inside the router network namespace. The namespace is a named
# one (/run/netns/$PEROUTER_NETNS, shared with the host through a
# bidirectional mount) so that it outlives pod restarts and the controller
# finds it by name; whichever of this script and the controller comes
# first creates it.
set -eu
NETNS="${PEROUTER_NETNS:-perouter}"
if [ ! -e "/run/netns/$NETNS" ]; then
	ip netns add "$NETNS" 2>/dev/null || test -e "/run/netns/$NETNS"
fi
ip -n "$NETNS" link set lo up
exec ip netns exec "$NETNS" /usr/lib/frr/docker-start
