#!/usr/bin/env bash
# Installs the system packages the test suite needs when they are missing, so a new machine (and CI) gets
# the same set-up from `make test`. Safe to run repeatedly: apt is used only when something is missing.
#
#   chromium            headless browser for the web-app test (driven by the Playwright python package;
#                       never `playwright install`)
#   poppler-utils       pdftotext/pdftoppm, to read back the PDF report in tests
#   libpango*, libharfbuzz-subset0, fonts-dejavu-core, fontconfig   WeasyPrint (PDF report)
#   postgresql          the audit-log tests run against a throwaway PostgreSQL cluster as well as SQLite
set -euo pipefail

PKGS=(
  chromium
  poppler-utils
  libpango-1.0-0
  libpangoft2-1.0-0
  libharfbuzz-subset0
  fontconfig
  fonts-dejavu-core
  postgresql
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "system-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "system-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
