using System.Globalization;

namespace ImageTools.Core.Hygiene.FirstBoot;

/// <summary>
/// The files the first-boot installation writes into an image, as text: the POSIX sh script and the
/// hooks that start it (a systemd unit, an LSB init.d script, a busybox inittab line). The settings are
/// written into the script itself (single-quoted), so the image needs nothing else.
/// </summary>
public static class FirstBootPayload
{
    /// <summary>Where the script goes.</summary>
    public const string ScriptPath = "/usr/local/sbin/imagetools-first-boot";

    /// <summary>Where the script keeps its state: "done" once the password is set, and per-step markers.</summary>
    public const string StateDirectory = "/var/lib/imagetools-first-boot";

    public const string UnitName = "imagetools-first-boot.service";
    public const string UnitPath = "/etc/systemd/system/" + UnitName;
    public const string WantsDirectory = "/etc/systemd/system/multi-user.target.wants";
    public const string WantsLink = WantsDirectory + "/" + UnitName;

    public const string InitScriptPath = "/etc/init.d/imagetools-first-boot";

    /// <summary>The rc links (runlevels 2-5); S01 sorts before S01ssh/S02ssh, so keys exist before sshd starts.</summary>
    public static readonly string[] RcLinks = ["/etc/rc2.d/S01imagetools-first-boot", "/etc/rc3.d/S01imagetools-first-boot", "/etc/rc4.d/S01imagetools-first-boot", "/etc/rc5.d/S01imagetools-first-boot"];

    /// <summary>The inittab line for busybox init: a sysinit action runs after the earlier sysinit lines (rcS brings the network up).</summary>
    public const string InittabLine = "::sysinit:" + ScriptPath;

    /// <summary>What the console shows (prefix of every line the script logs).</summary>
    public const string LogPrefix = "imagetools-first-boot:";

    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>The script, with the settings and the hook it was installed with.</summary>
    /// <param name="imageMachineId">The machine ID the image held when the script was installed (a copy that must not survive), or empty.</param>
    public static string Script(FirstBootOptions options, FirstBootInit hook, string imageMachineId)
    {
        options.Validate();
        var hookName = hook switch
        {
            FirstBootInit.Systemd => "systemd",
            FirstBootInit.SysV => "sysv",
            FirstBootInit.Busybox => "busybox",
            _ => throw new ArgumentOutOfRangeException(nameof(hook)),
        };
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        return $$"""
#!/bin/sh
# imagetools-first-boot: installed by 'fsmaker --first-boot' or 'fsmaker scrub --first-boot' (ImageTools); see docs/hygiene.md.
#
# On the first start of a server made from this image, and only then, it
#   - makes fresh SSH host keys (where sshd is installed) and a fresh machine-id,
#   - fetches the server's unique initial password from the platform's metadata service
#     (the response body is the password, as plain text) and sets it for one account,
#   - logs what it did on the console (never the password), and disables itself.
# If the service cannot be reached it tries a bounded number of times, logs the failure, leaves
# the account locked (never without a password) and tries again at the next boot.

METADATA_URL={{Quote(options.MetadataUrl)}}
ACCOUNT={{Quote(options.User)}}
ATTEMPTS={{I(options.Attempts)}}
FIRST_DELAY={{I(options.RetryDelaySeconds)}}
REQUEST_TIMEOUT={{I(options.RequestTimeoutSeconds)}}
HOOK={{hookName}}
IMAGE_MACHINE_ID={{Quote(imageMachineId)}}
STATE_DIR={{StateDirectory}}
SCRIPT={{ScriptPath}}

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 077

log() {
    # stdout reaches the console and the journal (the unit says so; init's sysinit lines and rc scripts write
    # to the console).
    echo "{{LogPrefix}} $*"
    if command -v logger >/dev/null 2>&1; then
        logger -t imagetools-first-boot -- "$*" >/dev/null 2>&1
    fi
    return 0
}

# --- the password -----------------------------------------------------------------------------

fetch() {
    # The client's own error goes to stderr (curl: "(22) The requested URL returned error: 404"; wget:
    # "server returned error: HTTP/1.1 404 Not Found" or "ERROR 404: Not Found."), which the caller logs.
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time "$REQUEST_TIMEOUT" "$METADATA_URL"
        return
    fi
    if command -v wget >/dev/null 2>&1; then
        set -- wget
    elif command -v busybox >/dev/null 2>&1 && busybox wget --help >/dev/null 2>&1; then
        set -- busybox wget
    else
        echo "neither curl nor wget (nor busybox wget) is installed in this system" >&2
        return 2
    fi
    # Not -q: a quiet wget says nothing about a 404. GNU wget's -nv still names the status; busybox has no -nv.
    if "$@" --version 2>/dev/null | grep -q 'GNU Wget'; then
        set -- "$@" -nv
    fi
    if command -v timeout >/dev/null 2>&1; then
        timeout "$REQUEST_TIMEOUT" "$@" -O - "$METADATA_URL"
    else
        "$@" -O - "$METADATA_URL"
    fi
}

# Sets PASSWORD, or fails after ATTEMPTS tries.
fetch_password() {
    attempt=1
    delay=$FIRST_DELAY
    cr=$(printf '\r')
    nl='
'
    while :; do
        if PASSWORD=$(fetch 2>"$STATE_DIR/fetch-error"); then
            PASSWORD=${PASSWORD%"$cr"}
            case "$PASSWORD" in
                "") log "attempt $attempt of $ATTEMPTS: the metadata service answered with an empty password" ;;
                *"$nl"*) log "attempt $attempt of $ATTEMPTS: the metadata service answered with several lines, not one password" ;;
                *) return 0 ;;
            esac
        else
            reason=$(grep -v '^[[:space:]]*$' "$STATE_DIR/fetch-error" 2>/dev/null | grep -v '^Connecting to ' | tail -n 1)
            log "attempt $attempt of $ATTEMPTS: no answer from $METADATA_URL (${reason:-the HTTP client gave no reason})"
        fi
        PASSWORD=
        [ "$attempt" -ge "$ATTEMPTS" ] && return 1
        sleep "$delay"
        attempt=$((attempt + 1))
        delay=$((delay * 2))
        [ "$delay" -le 30 ] || delay=30
        [ "$delay" -ge 1 ] || delay=1
    done
}

# A SHA-512 crypt hash of $1 (the password travels through pipes, never on a command line).
make_hash() {
    if command -v mkpasswd >/dev/null 2>&1; then
        # busybox mkpasswd: -P 0 reads the password from stdin.
        h=$(printf '%s' "$1" | mkpasswd -m sha512 -P 0 2>/dev/null)
        case "$h" in '$6$'*) echo "$h"; return 0 ;; esac
        # mkpasswd of the whois package.
        h=$(printf '%s\n' "$1" | mkpasswd -m sha-512 --stdin 2>/dev/null)
        case "$h" in '$6$'*) echo "$h"; return 0 ;; esac
    fi
    if command -v openssl >/dev/null 2>&1; then
        h=$(printf '%s\n' "$1" | openssl passwd -6 -stdin 2>/dev/null)
        case "$h" in '$6$'*) echo "$h"; return 0 ;; esac
    fi
    return 1
}

# Puts hash $1 into the account's /etc/shadow entry: a copy keeps owner and mode, a rename makes it atomic.
write_shadow_hash() {
    tmp=/etc/shadow.imagetools-first-boot
    cp -p /etc/shadow "$tmp" || return 1
    if awk -F: -v OFS=: -v account="$ACCOUNT" -v hash="$1" \
        '$1 == account { $2 = hash; found = 1 } { print } END { exit found ? 0 : 1 }' /etc/shadow >"$tmp"; then
        mv -f "$tmp" /etc/shadow && return 0
    fi
    rm -f "$tmp"
    return 1
}

set_password() {
    if ! grep -q "^$ACCOUNT:" /etc/shadow 2>/dev/null; then
        log "FAILED: account $ACCOUNT has no entry in /etc/shadow"
        return 1
    fi
    if command -v chpasswd >/dev/null 2>&1 && printf '%s:%s\n' "$ACCOUNT" "$1" | chpasswd 2>/dev/null; then
        return 0
    fi
    hash=$(make_hash "$1") || { log "FAILED: no chpasswd, mkpasswd or openssl to hash the password with"; return 1; }
    write_shadow_hash "$hash" || { log "FAILED: could not write /etc/shadow"; return 1; }
}

# --- host identity ----------------------------------------------------------------------------

# OpenSSH's server is there when its binary or its configuration is (the package ships both).
ssh_host_keys() {
    [ -e "$STATE_DIR/ssh-host-keys" ] && return 0
    if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || [ -e /etc/ssh/sshd_config ]; then
        if command -v ssh-keygen >/dev/null 2>&1; then
            rm -f /etc/ssh/ssh_host_*
            if ssh-keygen -A >/dev/null 2>&1; then
                for key in /etc/ssh/ssh_host_*_key.pub; do
                    [ -e "$key" ] && log "new SSH host key: $(ssh-keygen -l -f "$key")"
                done
            else
                log "ssh-keygen -A failed: sshd may have no host keys"
            fi
        else
            log "sshd is installed but ssh-keygen is not: no host keys made"
        fi
    else
        log "no OpenSSH server: no SSH host keys to make"
    fi
    : >"$STATE_DIR/ssh-host-keys"
}

new_machine_id() {
    if command -v dbus-uuidgen >/dev/null 2>&1; then
        dbus-uuidgen
    elif [ -r /proc/sys/kernel/random/uuid ]; then
        tr -d '-' </proc/sys/kernel/random/uuid
    else
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
    fi
}

machine_id() {
    [ -e "$STATE_DIR/machine-id" ] && return 0
    current=$(cat /etc/machine-id 2>/dev/null)
    if [ -z "$current" ] || [ "$current" = uninitialized ] || [ "$current" = "$IMAGE_MACHINE_ID" ]; then
        id=$(new_machine_id)
        if [ ${#id} -eq 32 ]; then
            # Rewritten in place: the file keeps its owner, mode and label.
            printf '%s\n' "$id" >/etc/machine-id && log "new machine-id: $id"
        else
            log "could not make a machine-id"
        fi
    else
        log "machine-id $current was made at this boot by the init system; kept"
    fi
    if [ -d /var/lib/dbus ] && [ ! -e /var/lib/dbus/machine-id ]; then
        ln -s /etc/machine-id /var/lib/dbus/machine-id
    fi
    : >"$STATE_DIR/machine-id"
}

# --- disabling ----------------------------------------------------------------------------------

disable() {
    : >"$STATE_DIR/done"
    case "$HOOK" in
        systemd)
            rm -f {{WantsLink}}
            ;;
        sysv)
            rm -f /etc/rc[2345].d/S01imagetools-first-boot
            ;;
        busybox)
            if [ -f /etc/inittab ] && grep -qxF "{{InittabLine}}" /etc/inittab; then
                cp -p /etc/inittab /etc/inittab.imagetools-first-boot &&
                    grep -vxF "{{InittabLine}}" /etc/inittab >/etc/inittab.imagetools-first-boot &&
                    mv -f /etc/inittab.imagetools-first-boot /etc/inittab
            fi
            ;;
    esac
}

# --- main ---------------------------------------------------------------------------------------

if [ "$(id -u)" != 0 ]; then
    log "must run as root"
    exit 1
fi
if [ -e "$STATE_DIR/done" ]; then
    log "already done at an earlier boot; nothing to do"
    exit 0
fi
mkdir -p "$STATE_DIR" && chmod 0700 "$STATE_DIR"
log "first boot of this server: new host identity, initial password for $ACCOUNT"
ssh_host_keys
machine_id
if fetch_password; then
    if set_password "$PASSWORD"; then
        PASSWORD=
        log "password set for account $ACCOUNT (from $METADATA_URL)"
        disable
        sync
        log "done; disabled (will not run again)"
        exit 0
    fi
    PASSWORD=
    log "FAILED: the password could not be set; account $ACCOUNT stays locked; trying again at the next boot"
    sync
    exit 1
fi
log "FAILED: no password from $METADATA_URL after $ATTEMPTS attempts; account $ACCOUNT stays locked; trying again at the next boot"
sync
exit 1

""";
    }

    /// <summary>
    /// The systemd unit: after the network is up; before every way to log in, so that no login prompt is offered
    /// while the password is not yet set: systemd-user-sessions.service (every getty, serial getty, console
    /// and display manager is ordered after it, and until it has run pam_nologin refuses logins, ssh's included),
    /// the console getty and display manager themselves, and sshd (which also needs the host keys made first). Once (a
    /// condition on the state file backs up the removed wants link).
    /// </summary>
    public static string Unit() => $$"""
[Unit]
Description=ImageTools first boot: initial password from the metadata service, new SSH host keys and machine-id
Wants=network-online.target
After=network-online.target
Before=systemd-user-sessions.service console-getty.service display-manager.service
Before=ssh.service sshd.service
ConditionPathExists=!{{StateDirectory}}/done

[Service]
Type=oneshot
ExecStart={{ScriptPath}}
RemainAfterExit=yes
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target

""";

    /// <summary>The LSB init.d script for sysvinit: starts the script in runlevels 2-5, after the network.</summary>
    public static string InitScript() => $$"""
#!/bin/sh
### BEGIN INIT INFO
# Provides:          imagetools-first-boot
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:
# Should-Start:      $named
# X-Start-Before:    ssh sshd
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: ImageTools first boot: initial password, SSH host keys, machine-id
### END INIT INFO
# Installed by fsmaker's --first-boot (ImageTools); the script removes its rc links once done.

case "$1" in
    start | "")
        [ -e {{StateDirectory}}/done ] && exit 0
        exec {{ScriptPath}}
        ;;
    stop | restart | force-reload | status)
        exit 0
        ;;
    *)
        echo "Usage: $0 start" >&2
        exit 3
        ;;
esac

""";

    /// <summary>
    /// busybox init's built-in table (what it uses when there is no /etc/inittab), plus the hook: written
    /// when the image has none, so that adding the hook does not lose the defaults.
    /// </summary>
    public static string DefaultBusyboxInittab(string hookLine = InittabLine) => $"""
# Busybox init's built-in defaults, written out by fsmaker (--first-boot, or scrub's ssh-hostkeys) to add a sysinit hook.
::sysinit:/etc/init.d/rcS
{hookLine}
::askfirst:-/bin/sh
tty2::askfirst:-/bin/sh
tty3::askfirst:-/bin/sh
tty4::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
::shutdown:/sbin/swapoff -a
::restart:/sbin/init

""";
}
