#!/usr/bin/env bash
# with-keyring.sh COMMAND [ARGS...] — runs COMMAND inside a private D-Bus
# session with an unlocked gnome-keyring Secret Service, so QtKeychain works
# headless (CI, tests). HOME points at a throw-away directory so the keyring
# files never touch the real home.
set -euo pipefail
if [[ ${L0L3_IN_KEYRING:-} != 1 ]]; then
  home=$(mktemp -d /tmp/l0l3-keyring.XXXXXX)
  trap 'rm -rf "$home"' EXIT
  export HOME=$home XDG_RUNTIME_DIR=$home/run XDG_DATA_HOME=$home/.local/share
  mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME/keyrings"
  chmod 700 "$XDG_RUNTIME_DIR"
  export L0L3_IN_KEYRING=1
  dbus-run-session -- "$0" "$@"
  exit $?
fi
# Inside the session: unlock a fresh login keyring with a throw-away password.
eval "$(printf 'l0l3-test\n' | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)" || true
export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK 2>/dev/null || true
exec "$@"
