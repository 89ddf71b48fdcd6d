#!/bin/sh
# The kernel work of one CNI ADD, done with plain iproute2 commands (the baseline for bench_cni.py).
# usage: ip_add.sh CONTAINER_NETNS IFNAME HOST_IFNAME IP MTU MAC HOST_NETNS
set -e
C=$1 IF=$2 H=$3 IP=$4 MTU=$5 MAC=$6 HOSTNS=$7
ip -n "$C" link add "$IF" address "$MAC" mtu "$MTU" type veth \
  peer name "$H" address ee:ee:ee:ee:ee:ee mtu "$MTU" netns "$HOSTNS"
ip -n "$C" link set "$IF" up
ip -n "$C" addr add "$IP/32" dev "$IF"
ip -n "$C" route add 169.254.1.1/32 dev "$IF" scope link
ip -n "$C" route add default via 169.254.1.1 dev "$IF"
echo 1 > "/proc/sys/net/ipv4/conf/$H/route_localnet"
echo 0 > "/proc/sys/net/ipv4/neigh/$H/proxy_delay"
echo 1 > "/proc/sys/net/ipv4/conf/$H/proxy_arp"
echo 1 > "/proc/sys/net/ipv4/conf/$H/forwarding"
echo 0 > "/proc/sys/net/ipv6/conf/$H/accept_ra"
ip link set "$H" up
ip route add "$IP/32" dev "$H" scope link
