#!/bin/sh
# The kernel work of one CNI DEL with iproute2: delete the container side (the host peer goes with it).
# usage: ip_del.sh CONTAINER_NETNS IFNAME
ip -n "$1" link del "$2"
