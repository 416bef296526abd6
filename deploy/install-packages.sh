#!/bin/sh
# Installs the Debian packages named in a list file (one per line, '#' starts a comment).
# The one way packages get installed: .ci/run and both Dockerfile stages call it, so CI exercises
# the same install as the image. Extra arguments go to apt-get install (e.g. --no-install-recommends).
set -eu
usage="usage: install-packages.sh LIST_FILE [APT_GET_INSTALL_OPTIONS...]"
if [ $# -lt 1 ]; then
    echo "$usage" >&2
    exit 2
fi
if [ "$1" = "--help" ]; then
    echo "$usage"
    exit 0
fi
list=$1
shift
if [ ! -r "$list" ]; then
    echo "install-packages.sh: cannot read package list '$list'" >&2
    exit 2
fi
pkgs=$(sed -e 's/#.*//' "$list" | tr -s ' \t\n' ' ')
if [ -z "$(echo "$pkgs" | tr -d ' ')" ]; then
    echo "install-packages.sh: '$list' names no package" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# $pkgs is split on purpose: one argument per package.
# shellcheck disable=SC2086
apt-get install -y -qq "$@" $pkgs >/dev/null
