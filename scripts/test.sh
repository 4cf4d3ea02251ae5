#!/usr/bin/env bash
# The whole test suite against one throwaway PostgreSQL cluster; every test
# package creates its own databases on it.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$(mktemp -d /tmp/cvtest.XXXX)
trap 'bash scripts/pgctl.sh stop "$D"; rm -rf "$D"' EXIT
CAREVISIT_TEST_DATABASE_URL=$(bash scripts/pgctl.sh start "$D")
export CAREVISIT_TEST_DATABASE_URL
go vet ./...
go test -count=1 -timeout 30m "$@" ./...
