#!/usr/bin/env bash
# install.sh: install madoguchi on Debian 12 / Raspberry Pi OS (bookworm, amd64 or arm64).
# Run it as root from the source checkout. Idempotent: a second run changes nothing, and a run
# that failed half-way is repaired by the next one. See docs/appliance.md.
set -Eeuo pipefail
umask 022

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/opt/madoguchi
VENV=$PREFIX/venv
CONF_DIR=/etc/madoguchi
CONFIG=$CONF_DIR/config.toml
DATA_DIR=/var/lib/madoguchi
CREDENTIAL=/etc/credstore.encrypted/madoguchi-db-key
UNIT_DIR=/etc/systemd/system
WRAPPER=/usr/local/bin/madoguchi
USER_NAME=madoguchi

usage() {
    cat <<'EOF'
Usage: sudo ./install.sh --device [options]     a reception desk (card reader, scanner, screen)
       sudo ./install.sh --hub [options]        the facility's hub (serves signed bundles)
       sudo ./install.sh --uninstall [--purge]  remove it (data, configuration and key are kept
                                                unless --purge)

Device options:
  --no-kiosk               headless: no screen packages, no kiosk unit (CI, a desk without a screen)
  --tty TTY                the screen's console for the kiosk (default tty1)
  --keyboard-layout XKB    keyboard layout on the screen (default jp)
  --scanner-port PATH      the QR scanner's serial device, e.g. /dev/serial/by-id/usb-...
  --card-reader NAME       use only the PC/SC reader with this name (default: any)
Enrollment of a device with its hub (needed once; asked for when run on a terminal):
  --root FILE --facility-key FILE --url URL
                           the facility's trusted root.json, facility key file and repository URL
                           (from `madoguchi hub status` on the hub); what `madoguchi sync init` takes
  --hub-url URL --token T  enrollment by one-time token (`madoguchi hub enroll-token` on the hub;
                           URL is the hub API, e.g. https://hub:8443): a client certificate, the
                           facility key and the trusted root come from the hub over mutual TLS
  --token-file FILE        the token from a file instead (- for standard input): not in the
                           process list nor the shell history
Hub options:
  --listen HOST:PORT       address the hub serves on (default 0.0.0.0:8470)
  --upstream terminal --terminal-share DIR --institution CODE
                           where the hub asks about patients: the facility's 資格確認端末 through
                           its shared folder (req/res/face), with the 10-digit 医療機関コード
  --upstream simulator     the national-system SIMULATOR (synthetic people): demos and training only

Flags given replace those values in /etc/madoguchi/config.toml; values not given are kept.
Every step says what it does; the run ends with `madoguchi doctor`.
EOF
}

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 2; }
CHANGES=0
changed() { CHANGES=$((CHANGES + 1)); note "changed: $*"; }
on_error() {
    printf '\ninstall.sh: FAILED at line %s (exit %s) during: %s\n' "$1" "$2" "$CURRENT_STEP" >&2
    printf 'install.sh: nothing is half-replaced; fix the cause above and run the same command again.\n' >&2
}
CURRENT_STEP="start"
trap 'on_error $LINENO $?' ERR
TEMPORARY=()  # removed however the run ends
trap 'rm -rf "${TEMPORARY[@]}"' EXIT
step() { CURRENT_STEP=$*; say "$*"; }

mode="" kiosk=1 purge=0
tty="" layout="" scanner_port="" card_reader="" listen="" upstream="" terminal_share="" institution=""
root_file="" key_file="" repo_url="" hub_url="" token=""
have_scanner=0 have_reader=0
while [ $# -gt 0 ]; do
    case $1 in
        --device|--hub|--uninstall) [ -z "$mode" ] || die "choose one of --device, --hub, --uninstall"; mode=${1#--} ;;
        --no-kiosk) kiosk=0 ;;
        --purge) purge=1 ;;
        --tty) tty=${2:?--tty needs a value}; shift ;;
        --keyboard-layout) layout=${2:?--keyboard-layout needs a value}; shift ;;
        --scanner-port) scanner_port=${2?--scanner-port needs a value}; have_scanner=1; shift ;;
        --card-reader) card_reader=${2?--card-reader needs a value}; have_reader=1; shift ;;
        --root) root_file=${2:?--root needs a file}; shift ;;
        --facility-key) key_file=${2:?--facility-key needs a file}; shift ;;
        --url) repo_url=${2:?--url needs a URL}; shift ;;
        --hub-url) hub_url=${2:?--hub-url needs a URL}; shift ;;
        --token) token=${2:?--token needs a value}; shift ;;
        --token-file) token=$(cat -- "${2:?--token-file needs a file}") || die "cannot read $2"; shift ;;
        --listen) listen=${2:?--listen needs HOST:PORT}; shift ;;
        --upstream) upstream=${2:?--upstream needs terminal or simulator}; shift ;;
        --terminal-share) terminal_share=${2:?--terminal-share needs a directory}; shift ;;
        --institution) institution=${2:?--institution needs a 10-digit code}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
done
[ -n "$mode" ] || { usage >&2; die "choose --device, --hub or --uninstall"; }
[ "$(id -u)" -eq 0 ] || die "run as root (sudo ./install.sh ...)"
[ "$purge" -eq 0 ] || [ "$mode" = uninstall ] || die "--purge goes with --uninstall"
if [ -n "$hub_url$token" ]; then
    [ "$mode" = device ] || die "--hub-url/--token enroll a device: use them with --device"
    if [ -z "$hub_url" ] || [ -z "$token" ]; then die "enrollment by token needs both --hub-url URL and --token T"; fi
    [ -z "$root_file$key_file$repo_url" ] || die "choose one enrollment: --hub-url/--token or --root/--facility-key/--url"
fi
if [ -d /run/systemd/system ]; then systemd_up=1; else systemd_up=0; fi
if [ "$mode" = device ] && [ ! -f "$DATA_DIR/sync/sync.json" ] && [ -z "$root_file$key_file$repo_url$token" ] && [ ! -t 0 ]; then
    die "this device is not enrolled and there is no terminal to ask on: give
    --root FILE --facility-key FILE --url URL (see \`madoguchi hub status\` on the hub)"
fi

systemctl_do() {
    if [ "$systemd_up" -eq 1 ]; then
        note "systemctl $*"
        systemctl "$@"
    else
        note "skipped (systemd is not PID 1 here): systemctl $*"
    fi
}

# Install SRC as DEST with MODE unless DEST already has the same content and mode.
put_file() {
    local src=$1 dest=$2 mode=$3
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        note "unchanged: $dest"
        return 1
    fi
    install -D -m "$mode" "$src" "$dest.new"
    mv -f "$dest.new" "$dest"
    changed "$dest"
}

# Write the standard input to DEST (mode MODE) unless it already holds exactly that.
put_text() {
    local dest=$1 mode=$2 tmp
    tmp=$(mktemp)
    TEMPORARY+=("$tmp")
    cat >"$tmp"
    local status=0
    put_file "$tmp" "$dest" "$mode" || status=$?
    rm -f "$tmp"
    return "$status"
}

remove() {
    local path
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -rf "$path"
            changed "removed $path"
        fi
    done
}

# A value of the configuration file (dotted key), else DEFAULT: flags not given keep these.
current() {
    [ -f "$CONFIG" ] || { echo "$2"; return; }
    /usr/bin/python3 - "$CONFIG" "$1" "$2" <<'EOF'
import sys, tomllib
data = tomllib.load(open(sys.argv[1], "rb"))
for part in sys.argv[2].split("."):
    data = data.get(part, {}) if isinstance(data, dict) else {}
print(data if isinstance(data, str) else sys.argv[3])
EOF
}
toml_string() { /usr/bin/python3 -c 'import json, sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$1"; }

# ---- uninstall ---------------------------------------------------------------------------------

if [ "$mode" = uninstall ]; then
    step "stopping and disabling the units"
    for unit in "$UNIT_DIR"/madoguchi-*.service; do
        [ -e "$unit" ] || continue
        name=$(basename "$unit")
        [ "$name" != "madoguchi-kiosk@.service" ] || name="madoguchi-kiosk@$(current appliance.kiosk_tty tty1).service"
        systemctl_do disable --now "$name" || true
    done
    step "removing the program, the units and the system integration"
    remove "$UNIT_DIR"/madoguchi-*.service "$UNIT_DIR"/madoguchi-hub.service.d /etc/pam.d/madoguchi-kiosk /usr/lib/sysusers.d/madoguchi.conf \
        /usr/lib/tmpfiles.d/madoguchi.conf "$WRAPPER" "$PREFIX" "$CONF_DIR/kiosk.env" "$CONF_DIR/hub.env"
    [ "$systemd_up" -eq 0 ] || systemctl daemon-reload
    if [ "$purge" -eq 1 ]; then
        step "purging data, configuration, the database key and the user"
        remove "$DATA_DIR" "$CONF_DIR" "$CREDENTIAL" /var/cache/madoguchi-kiosk
        if id "$USER_NAME" >/dev/null 2>&1; then
            userdel "$USER_NAME"
            changed "removed user $USER_NAME"
        fi
    else
        note "kept: $DATA_DIR (data), $CONF_DIR (configuration), $CREDENTIAL (the key: the data is unreadable without it)"
        note "run with --uninstall --purge to remove those too"
    fi
    note "Debian packages are left installed (other software may use them)"
    say "uninstalled ($CHANGES changes)"
    exit 0
fi

# ---- packages ----------------------------------------------------------------------------------

step "Debian packages"
# SQLCipher (sqlcipher3) publishes wheels for amd64 and arm64 only, and its source build downloads
# OpenSSL: 32-bit Raspberry Pi OS (armhf) cannot hold the encrypted cache.
architecture=$(dpkg --print-architecture)
case $architecture in
    amd64|arm64) note "architecture: $architecture" ;;
    *) die "this is $architecture: madoguchi needs a 64-bit system (amd64, or arm64: 64-bit Raspberry Pi OS)" ;;
esac
packages=(python3 python3-venv python3-dev gcc systemd procps)  # procps: /bin/kill for `systemctl reload`
if [ "$mode" = device ]; then
    # pcscd and the CCID driver; swig, pkg-config and libpcsclite-dev build pyscard.
    packages+=(pcscd libccid libpcsclite-dev swig pkg-config tmux)
    if [ "$kiosk" -eq 1 ]; then
        # Debian's cage needs xwayland but does not declare it (shared/style.md).
        packages+=(cage foot xwayland fonts-noto-cjk)
    fi
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    note "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    changed "packages ${missing[*]}"
else
    note "unchanged: all present (${packages[*]})"
fi
# vpcd opens a virtual reader to the network: never on a desk (docs/domain.md section 6).
if [ "$mode" = device ] && dpkg-query -W -f='${Status}' vsmartcard-vpcd 2>/dev/null | grep -q "install ok installed"; then
    printf 'install.sh: WARNING: vsmartcard-vpcd is installed: it listens on the network for a virtual card.\n' >&2
    printf '            Remove it on a desk: apt-get purge vsmartcard-vpcd\n' >&2
fi
# cage draws through a KMS display driver; Raspberry Pi OS has one unless config.txt turned it off.
if [ "$mode" = device ] && [ "$kiosk" -eq 1 ] && ! compgen -G '/dev/dri/card*' >/dev/null; then
    printf 'install.sh: WARNING: no display driver (/dev/dri/card*): the kiosk screen (cage) cannot start.\n' >&2
    printf '            On a Raspberry Pi: dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt, then reboot.\n' >&2
fi

# ---- user and directories ----------------------------------------------------------------------

step "system user and directories (sysusers.d, tmpfiles.d)"
put_file "$SRC/systemd/madoguchi.sysusers" /usr/lib/sysusers.d/madoguchi.conf 0644 || true
put_file "$SRC/systemd/madoguchi.tmpfiles" /usr/lib/tmpfiles.d/madoguchi.conf 0644 || true
if ! id "$USER_NAME" >/dev/null 2>&1; then
    systemd-sysusers madoguchi.conf
    changed "user $USER_NAME"
else
    note "unchanged: user $USER_NAME"
fi
systemd-tmpfiles --create madoguchi.conf

# ---- the program ---------------------------------------------------------------------------------

step "the program in $VENV (on Debian's Python, readable by the kiosk user)"
restart=0  # set when the program or a unit changed: running services restart
# Every dependency at the version and hash of the lock file (requirements/, made by scripts/lock):
# requirements/device.txt = extras reader + sqlcipher, requirements/hub.txt = hub + sqlcipher.
sources=(pyproject.toml README.md requirements edge sync tui sim madoguchi)
source_hash=$(cd "$SRC" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --exclude=__pycache__ --exclude='*.pyc' -cf - "${sources[@]}" | sha256sum | cut -c1-32)
stamp="$source_hash $mode $(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])')"
if [ -x "$VENV/bin/madoguchi" ] && [ "$(cat "$PREFIX/.installed" 2>/dev/null)" = "$stamp" ]; then
    note "unchanged: madoguchi ($mode, requirements/$mode.txt) from these sources is installed"
else
    note "building a new environment (pip reuses its cache of built wheels)"
    build=$(mktemp -d)
    TEMPORARY+=("$build")
    rm -rf "$VENV.new"
    (cd "$SRC" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - "${sources[@]}") | tar -xf - -C "$build"
    /usr/bin/python3 -m venv "$VENV.new"
    "$VENV.new/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "$build/requirements/$mode.txt"
    # madoguchi itself, with the lock's setuptools (already installed: no download)
    "$VENV.new/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation "$build"
    rm -rf "$build"
    # Scripts in a venv name their interpreter by absolute path: point them at the final place.
    grep -lI -- "$VENV.new" "$VENV.new"/bin/* | xargs sed -i "s|$VENV.new|$VENV|g"
    rm -rf "$VENV.old"
    [ ! -e "$VENV" ] || mv "$VENV" "$VENV.old"
    mv "$VENV.new" "$VENV"
    rm -rf "$VENV.old"
    chmod -R a+rX "$PREFIX"
    echo "$stamp" >"$PREFIX/.installed"
    changed "$VENV"
    restart=1
fi
for doc in "$SRC"/docs/*.md; do
    [ -e "$doc" ] || continue
    put_file "$doc" "$PREFIX/docs/$(basename "$doc")" 0644 || true
done
put_file "$SRC/systemd/kiosk-tmux.conf" "$PREFIX/share/kiosk-tmux.conf" 0644 || true
put_file "$SRC/systemd/madoguchi-admin" "$WRAPPER" 0755 || true

# ---- configuration -------------------------------------------------------------------------------

step "configuration $CONFIG"
[ -n "$tty" ] || tty=$(current appliance.kiosk_tty tty1)
[[ $tty =~ ^tty[0-9]+$ ]] || die "--tty must look like tty1"
[ -n "$layout" ] || layout=$(current kiosk.keyboard_layout jp)
[[ $layout =~ ^[a-z,()_-]+$ ]] || die "--keyboard-layout must be an XKB layout name, e.g. jp or us"
[ "$have_scanner" -eq 1 ] || scanner_port=$(current scanner.serial_port "")
[ "$have_reader" -eq 1 ] || card_reader=$(current card.reader "")
kiosk_toml=false
if [ "$mode" = device ] && [ "$kiosk" -eq 1 ]; then kiosk_toml=true; fi
hub_section=""
if [ "$mode" = hub ]; then
    [ -n "$listen" ] || listen=$(current hub.listen 0.0.0.0:8470)
    [[ $listen =~ ^([^:]+):([0-9]+)$ ]] || die "--listen must be HOST:PORT"
    [ -n "$upstream" ] || upstream=$(current hub.upstream "")
    [ -n "$terminal_share" ] || terminal_share=$(current hub.terminal_share "")
    [ -n "$institution" ] || institution=$(current hub.institution "")
    case $upstream in
        terminal)
            [ -d "$terminal_share" ] || die "--upstream terminal needs --terminal-share DIR (the terminal's shared folder, mounted)"
            [[ $institution =~ ^[0-9]{10}$ ]] || die "--upstream terminal needs --institution CODE (the 10-digit 医療機関コード)" ;;
        simulator) note "upstream: the national-system SIMULATOR (synthetic people): never for real patients" ;;
        "") die "choose where the hub asks about patients: --upstream terminal --terminal-share DIR --institution CODE
    (the facility's 資格確認端末), or --upstream simulator (demos and training only)" ;;
        *) die "--upstream must be terminal or simulator" ;;
    esac
    hub_section=$'\n[hub]\nlisten = '"$(toml_string "$listen")"$'\nupstream = '"$(toml_string "$upstream")"
    if [ "$upstream" = terminal ]; then
        hub_section+=$'\nterminal_share = '"$(toml_string "$terminal_share")"$'\ninstitution = '"$(toml_string "$institution")"
    fi
fi
put_text "$CONFIG" 0644 <<EOF || true
# madoguchi configuration, written by install.sh: re-run it with flags to change these values
# (see edge/config.py for every key and its default).
data_dir = "$DATA_DIR"

[appliance]
role = "$mode"
kiosk = $kiosk_toml
kiosk_tty = "$tty"

[kiosk]
keyboard_layout = "$layout"

[scanner]
serial_port = $(toml_string "$scanner_port")

[card]
reader = $(toml_string "$card_reader")$hub_section
EOF
if [ "$mode" = device ] && [ "$kiosk" -eq 1 ]; then
    printf '# Written by install.sh from %s ([kiosk] keyboard_layout)\nXKB_DEFAULT_LAYOUT=%s\n' "$CONFIG" "$layout" \
        | put_text "$CONF_DIR/kiosk.env" 0644 || true
fi
if [ "$mode" = hub ]; then
    printf '# Written by install.sh from %s ([hub] listen)\nMADOGUCHI_HUB_HOST=%s\nMADOGUCHI_HUB_PORT=%s\n' \
        "$CONFIG" "${listen%:*}" "${listen##*:}" | put_text "$CONF_DIR/hub.env" 0644 || true
fi

# ---- encryption at rest ----------------------------------------------------------------------------

step "database key (systemd credential $CREDENTIAL)"
if [ -f "$CREDENTIAL" ]; then
    note "unchanged: the key exists (it is never replaced: the data would become unreadable)"
else
    install -d -m 0700 "$(dirname "$CREDENTIAL")"
    # TPM2 where present (bound to this machine), else the host key /var/lib/systemd/credential.secret.
    "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))' \
        | systemd-creds encrypt --name=madoguchi-db-key --with-key=auto - "$CREDENTIAL.new"
    chmod 0600 "$CREDENTIAL.new"
    mv "$CREDENTIAL.new" "$CREDENTIAL"
    changed "$CREDENTIAL"
fi

# ---- units ---------------------------------------------------------------------------------------

step "systemd units"
units_changed=0
if [ "$mode" = device ]; then
    put_file "$SRC/systemd/madoguchi-sync.service" "$UNIT_DIR/madoguchi-sync.service" 0644 && units_changed=1
    if [ "$kiosk" -eq 1 ]; then
        put_file "$SRC/systemd/madoguchi-kiosk@.service" "$UNIT_DIR/madoguchi-kiosk@.service" 0644 && units_changed=1
        put_file "$SRC/systemd/madoguchi-kiosk.pam" /etc/pam.d/madoguchi-kiosk 0644 || true
    fi
else
    put_file "$SRC/systemd/madoguchi-hub.service" "$UNIT_DIR/madoguchi-hub.service" 0644 && units_changed=1
    if [ "$upstream" = terminal ]; then  # ProtectSystem=strict: the terminal's folder must be writable
        install -d -m 0755 "$UNIT_DIR/madoguchi-hub.service.d"
        printf '# Written by install.sh ([hub] terminal_share)\n[Service]\nReadWritePaths=%s\n' "$terminal_share" \
            | put_text "$UNIT_DIR/madoguchi-hub.service.d/terminal.conf" 0644 && units_changed=1
    else
        [ ! -e "$UNIT_DIR/madoguchi-hub.service.d" ] || { remove "$UNIT_DIR/madoguchi-hub.service.d"; units_changed=1; }
    fi
fi
if [ "$units_changed" -eq 1 ]; then
    restart=1
    [ "$systemd_up" -eq 0 ] || systemctl daemon-reload
fi

# ---- enrollment (device) -------------------------------------------------------------------------

admin() { "$WRAPPER" "$@"; }
if [ "$mode" = device ]; then
    step "enrollment with the hub"
    enrolled_url=""
    [ -f "$DATA_DIR/sync/sync.json" ] && enrolled_url=$(/usr/bin/python3 -c \
        'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$DATA_DIR/sync/sync.json")
    enrolled_hub=""
    [ -f "$DATA_DIR/sync/hub.json" ] && enrolled_hub=$(/usr/bin/python3 -c \
        'import json, sys; print(json.load(open(sys.argv[1]))["hub_url"])' "$DATA_DIR/sync/hub.json")
    if [ -n "$token" ]; then
        if [ "${hub_url%/}" = "$enrolled_hub" ]; then
            note "unchanged: enrolled with $enrolled_hub (a token is used once)"
        else
            printf '%s\n' "$token" | admin sync enroll --hub-url "$hub_url" --token-file -
            changed "enrolled with $hub_url by token"
            restart=1
        fi
    elif [ -z "$root_file$key_file$repo_url" ] && [ -z "$enrolled_url" ]; then
        read -r -p "    the facility's root.json (from the hub): " root_file
        read -r -p "    the facility key file: " key_file
        read -r -p "    the repository URL (e.g. http://hub:8470/clinic-a): " repo_url
    fi
    if [ -n "$root_file$key_file$repo_url" ]; then
        if [ -z "$root_file" ] || [ -z "$key_file" ] || [ -z "$repo_url" ]; then
            die "enrollment needs all three: --root FILE --facility-key FILE --url URL"
        fi
        [ -r "$root_file" ] || die "cannot read --root $root_file"
        [ -r "$key_file" ] || die "cannot read --facility-key $key_file"
        same_key=0
        if [ -f "$DATA_DIR/sync/facility.key" ] && [ "$(tr -d '[:space:]' <"$key_file" | tr 'A-F' 'a-f')" = \
            "$(tr -d '[:space:]' <"$DATA_DIR/sync/facility.key")" ]; then same_key=1; fi
        if [ "${repo_url%/}" = "$enrolled_url" ] && [ "$same_key" -eq 1 ]; then
            note "unchanged: enrolled with $enrolled_url"
        else
            stage=$(mktemp -d /run/madoguchi-enroll.XXXXXX)
            TEMPORARY+=("$stage")
            install -m 0400 -o "$USER_NAME" "$root_file" "$stage/root.json"
            install -m 0400 -o "$USER_NAME" "$key_file" "$stage/facility.key"
            chown "$USER_NAME" "$stage"
            admin sync init --root "$stage/root.json" --facility-key "$stage/facility.key" --url "$repo_url"
            rm -rf "$stage"
            changed "enrolled with $repo_url"
            restart=1
        fi
    elif [ -z "$token" ]; then
        note "unchanged: enrolled with $enrolled_url"
    fi
fi

# ---- services ------------------------------------------------------------------------------------

step "services"
if [ "$mode" = device ]; then
    systemctl_do enable --now pcscd.socket
    systemctl_do enable madoguchi-sync.service
    if [ "$kiosk" -eq 1 ]; then systemctl_do enable "madoguchi-kiosk@$tty.service"; fi
    if [ "$systemd_up" -eq 1 ]; then
        action=start
        [ "$restart" -eq 0 ] || action=restart
        systemctl_do "$action" madoguchi-sync.service
        if [ "$kiosk" -eq 1 ]; then systemctl_do "$action" "madoguchi-kiosk@$tty.service"; fi
    else
        note "systemd is not PID 1: syncing once by hand instead of starting the daemon"
        admin sync once || note "the first sync did not succeed (see above); the doctor says more"
    fi
else
    systemctl_do enable madoguchi-hub.service
    if [ "$systemd_up" -eq 1 ]; then
        action=start
        [ "$restart" -eq 0 ] || action=restart
        systemctl_do "$action" madoguchi-hub.service
    else
        note "systemd is not PID 1: start the hub by hand: madoguchi hub serve"
    fi
fi

# ---- check ---------------------------------------------------------------------------------------

step "madoguchi doctor"
trap - ERR
doctor_status=0
admin doctor || doctor_status=$?
if [ "$doctor_status" -eq 0 ]; then
    say "installed ($CHANGES changes); doctor: no failure"
else
    say "installed ($CHANGES changes); doctor: some checks FAIL: fix them as shown above, then run: sudo madoguchi doctor"
fi
