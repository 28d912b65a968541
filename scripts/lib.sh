# Shared by scripts/serve and scripts/test (sourced, never run): which Debian packages this
# machine lacks, and installing them — `apt-get install -y` as root; otherwise the exact command
# to run, and exit 1. Callers add to `missing_packages`, then call `install_missing_packages`.
# shellcheck shell=bash

export PATH="$HOME/.cargo/bin:$PATH"
missing_packages=()

step() { printf '\n==> %s\n' "$*"; }

die() {
  printf '%s\n' "$*" >&2
  exit 1
}

install_missing_packages() {
  [ ${#missing_packages[@]} -gt 0 ] || return 0
  local packages="${missing_packages[*]}"
  if [ "$(id -u)" != 0 ]; then
    die "missing system packages: $packages; install them with: sudo apt-get install -y $packages"
  fi
  command -v apt-get >/dev/null \
    || die "missing system packages: $packages (Debian names; there is no apt-get here to install them)"
  step "installing $packages (apt-get install -y)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_packages[@]}" >/dev/null
  missing_packages=()
}

# Rust itself (rustup) is the one prerequisite; the C compiler and linker `ring` needs are not.
require_build_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
  command -v cc >/dev/null || missing_packages+=(gcc)
}

# True when $1 holds the PostgreSQL server binaries the local cluster runs on.
postgres_bin_dir_ok() { [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]; }

# The PostgreSQL server binaries where lib/db/local.rs looks for them (without
# ATOMS_POSTGRES_BIN_DIR): /usr/lib/postgresql/<version>/bin, or one PATH directory.
require_postgres() {
  local dir dirs
  for dir in /usr/lib/postgresql/*/bin; do
    postgres_bin_dir_ok "$dir" && return 0
  done
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    postgres_bin_dir_ok "$dir" && return 0
  done
  missing_packages+=(postgresql)
}
