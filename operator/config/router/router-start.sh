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
# watchfrr, in the foreground as the container's main process, starts the
# daemons /etc/frr/daemons enables and restarts any that dies (what the
# upstream FRR image's docker-start does; Debian's frr package, which the
# router image installs, has no docker-start). FRR's frrcommon.sh (bash)
# reads the daemons file.
exec ip netns exec "$NETNS" /bin/bash -c '
log_success_msg() { echo "$@"; }
log_warning_msg() { echo "$@" >&2; }
log_failure_msg() { echo "$@" >&2; }
. /usr/lib/frr/frrcommon.sh
exec /usr/lib/frr/watchfrr ${watchfrr_options:-} $(daemon_list)'
