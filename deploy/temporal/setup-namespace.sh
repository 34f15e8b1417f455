#!/bin/sh
# One-shot setup job, run by docker-compose.yml in temporalio/admin-tools once the
# Temporal server's port is open. It waits until the cluster reports itself healthy,
# creates the namespace if it is missing, and registers the importer's search
# attributes, so that the worker (which waits for this job) starts against a
# namespace where imports can be listed by vendor, connection, source and schedule.
# Safe to run again: an existing namespace is left alone and the server skips
# attributes that already exist with the same type (a different type fails).
#
#   TEMPORAL_ADDRESS     frontend host:port
#   TEMPORAL_NAMESPACE   namespace to create (default "default")
#   NAMESPACE_RETENTION  how long closed workflows are kept (default 168h)
#   SEARCH_ATTRIBUTES    space-separated Name=Type pairs, e.g. "ImporterVendor=Keyword"
#   SETUP_ATTEMPTS       tries for each step that waits on the server (default 60)
#   SETUP_RETRY_SECONDS  pause between tries (default 2)
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS must name the Temporal frontend}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES must list Name=Type pairs}"
ns=${TEMPORAL_NAMESPACE:-default}
retention=${NAMESPACE_RETENTION:-168h}
attempts=${SETUP_ATTEMPTS:-60}
pause=${SETUP_RETRY_SECONDS:-2}

# retry WHAT CMD...: runs CMD until it succeeds, at most $attempts times. A freshly
# started server answers on its port before every service has joined, and a new
# namespace takes a few seconds to reach the caches the operator API reads.
retry() {
	what=$1
	shift
	n=1
	until "$@"; do
		if [ "$n" -ge "$attempts" ]; then
			echo "setup: $what: still failing after $attempts attempts" >&2
			return 1
		fi
		n=$((n + 1))
		sleep "$pause"
	done
}

retry "cluster health at $TEMPORAL_ADDRESS" temporal operator cluster health --address "$TEMPORAL_ADDRESS"

# Describe first, so a rerun leaves an existing namespace (and its retention) alone;
# retried as a whole, so a create that timed out but landed is then seen as done.
ensure_namespace() {
	if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$ns" >/dev/null 2>&1; then
		echo "setup: namespace $ns exists"
		return 0
	fi
	echo "setup: creating namespace $ns (retention $retention)"
	temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$ns" --retention "$retention"
}
retry "namespace $ns" ensure_namespace

# One call for all attributes: --name and --type pair up in order.
set -f # the pairs are words, not file patterns
set --
for pair in $SEARCH_ATTRIBUTES; do
	name=${pair%%=*}
	type=${pair#*=}
	if [ -z "$name" ] || [ -z "$type" ] || [ "$name" = "$pair" ]; then
		echo "setup: SEARCH_ATTRIBUTES entry \"$pair\" is not Name=Type" >&2
		exit 1
	fi
	set -- "$@" --name "$name" --type "$type"
done
echo "setup: search attributes in $ns: $SEARCH_ATTRIBUTES"
retry "register search attributes" temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
	--namespace "$ns" "$@"
echo "setup: done"
